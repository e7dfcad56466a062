// The shop's web console: Cognito sign-in, the catalog, the cart, checkout, my orders and approvals.
// Plain ES module, no build step; settings come from config.json next to this file.

const FINAL = new Set(['SHIPPED', 'DELIVERED', 'CANCELLED', 'REJECTED', 'FAILED']);
const POLL_MS = 2000;
const SESSION_KEY = 'shop.session';

const $ = (selector) => document.querySelector(selector);

let config;
let session = loadSession();
let products = new Map();
let flash = ''; // a notice that survives the next navigation
let focusNext = ''; // what the next navigation focuses instead of the page's heading
let generation = 0; // bumped on every navigation: a poll from a page left behind stops
const statuses = new Map(); // orderId -> last status seen, to announce changes
let pendingOrder; // {text, key}: resubmitting the same order keeps its Idempotency-Key

class ShopError extends Error {
  constructor(message, fieldErrors = []) {
    super(message);
    this.fieldErrors = fieldErrors;
  }
}

// --- HTTP -----------------------------------------------------------------------------------------------

async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (session) init.headers.Authorization = `Bearer ${session.idToken}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${config.apiBase}${path}`, init);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.ok) return data;
  if (response.status === 401 && session) {
    signOut('Your session has ended: sign in again.');
  }
  throw new ShopError(data?.detail ?? `${response.status} ${response.statusText}`, data?.errors ?? []);
}

async function cognito(action, body) {
  const response = await fetch(config.cognitoEndpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ShopError(data.message || data.__type || `${action} failed (${response.status})`);
  return data;
}

// --- Session --------------------------------------------------------------------------------------------

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return saved && saved.expiresAt > Date.now() ? saved : null;
  } catch {
    return null;
  }
}

function claimsOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
}

async function signIn(email, password) {
  const result = await cognito('InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: config.userPoolClientId,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  if (!result.AuthenticationResult) {
    throw new ShopError(`Sign-in needs a step this console does not offer (${result.ChallengeName}).`);
  }
  const idToken = result.AuthenticationResult.IdToken;
  const claims = claimsOf(idToken);
  const groups = claims['cognito:groups'] ?? [];
  session = { idToken, email: claims.email ?? email, groups, expiresAt: claims.exp * 1000 };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  showSession();
}

function signOut(message = 'Signed out.') {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  statuses.clear();
  showSession();
  go('#/sign-in', message);
}

function showSession() {
  for (const node of document.querySelectorAll('[data-signed-in]')) node.hidden = !session;
  for (const node of document.querySelectorAll('[data-signed-out]')) node.hidden = Boolean(session);
  for (const node of document.querySelectorAll('[data-admin]')) node.hidden = !session?.groups.includes('admins');
  $('#who').textContent = session ? `Signed in as ${session.email}` : '';
}

// --- Rendering helpers ----------------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, '');
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  node.append(...children.flat().filter((child) => child != null));
  return node;
}

const hidden = (text) => h('span', { class: 'visually-hidden' }, text);
const money = (cents, currency = 'USD') =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(cents / 100);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

function notice(text) {
  $('#notice').textContent = text;
}

function clearMessages() {
  $('#error').replaceChildren();
  $('#notice').textContent = '';
  for (const node of document.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
}

function showError(error) {
  const message = error instanceof ShopError ? error.message : `The shop could not be reached (${error.message}).`;
  const fields = error.fieldErrors ?? [];
  $('#error').replaceChildren(
    h('p', {}, message),
    fields.length
      ? h('ul', {}, fields.map((field) => h('li', {}, `${fieldName(field.location)}: ${field.message}`)))
      : null,
  );
  const view = document.querySelector('[data-view]:not([hidden])');
  for (const field of fields) {
    const inputs = view?.querySelectorAll(`[name="${CSS.escape(String(field.location.at(-1)))}"]`) ?? [];
    if (inputs.length === 1) inputs[0].setAttribute('aria-invalid', 'true');
  }
}

// ['body', 'items', 0, 'quantity'] -> 'items[0].quantity'
const fieldName = (location) =>
  location
    .filter((part) => part !== 'body')
    .map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`))
    .join('')
    .replace(/^\./, '');

// Runs a user action: messages cleared first, errors shown, one at a time per form.
async function act(form, action) {
  if (form.getAttribute('aria-busy') === 'true') return;
  form.setAttribute('aria-busy', 'true');
  clearMessages();
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    form.removeAttribute('aria-busy');
  }
}

function on(selector, event, action) {
  const node = $(selector);
  node.addEventListener(event, (e) => {
    e.preventDefault();
    act(node.closest('form') ?? node, () => action(node));
  });
}

// --- Routing --------------------------------------------------------------------------------------------

const views = {
  'sign-in': {},
  'sign-up': {},
  catalog: { render: showCatalog },
  cart: { signedIn: true, render: showCart },
  orders: { signedIn: true, render: showOrders },
  approvals: { signedIn: true, render: showApprovals },
};

function go(hash, message = '', focus = '') {
  flash = message;
  focusNext = focus;
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route(focus = true) {
  const current = ++generation;
  clearMessages();
  if (flash) notice(flash);
  flash = '';
  let name = location.hash.replace(/^#\/?/, '');
  if (!Object.hasOwn(views, name)) name = 'catalog';
  if (views[name].signedIn && !session) {
    go('#/sign-in', 'Sign in to see this page.');
    return;
  }
  const view = $(`[data-view="${name}"]`);
  for (const section of document.querySelectorAll('[data-view]')) {
    section.hidden = section !== view;
    section.removeAttribute('aria-busy');
  }
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (focus) (focusNext ? $(focusNext) : view.querySelector('h1')).focus();
  focusNext = '';
  view.setAttribute('aria-busy', 'true'); // until its content is loaded
  try {
    await views[name].render?.(current);
  } catch (error) {
    if (current === generation) showError(error);
  } finally {
    if (current === generation) view.removeAttribute('aria-busy');
  }
}

// --- Catalog and cart -----------------------------------------------------------------------------------

async function loadProducts() {
  const found = new Map();
  let token = '';
  do {
    const page = await api('GET', `/products?limit=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
    for (const product of page.items) found.set(product.productId, product);
    token = page.nextToken;
  } while (token);
  products = found;
}

async function showCatalog() {
  await loadProducts();
  $('#products').replaceChildren(...[...products.values()].map(productCard));
}

function productCard(product) {
  const id = `quantity-${product.productId}`;
  const form = h(
    'form',
    { class: 'product', novalidate: true },
    h('h2', {}, product.name),
    h('p', { class: 'price' }, money(product.priceCents, product.currency)),
    h('p', { class: 'hint' }, product.available > 0 ? `${product.available} in stock` : 'Out of stock'),
    h('label', { for: id }, 'Quantity', hidden(` of ${product.name}`)),
    h('input', { id, name: 'quantity', type: 'number', min: 1, max: 100, value: 1, inputmode: 'numeric' }),
    h('button', { type: 'submit' }, 'Add to cart', hidden(`: ${product.name}`)),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(form, () => addToCart(product, Number(form.elements.quantity.value)));
  });
  return h('li', {}, form);
}

async function addToCart(product, quantity) {
  if (!session) {
    go('#/sign-in', 'Sign in to keep a cart.');
    return;
  }
  const cart = await api('GET', '/cart');
  const line = cart.items.find((item) => item.productId === product.productId);
  const items = line
    ? cart.items.map((item) => (item === line ? { ...item, quantity: item.quantity + quantity } : item))
    : [...cart.items, { productId: product.productId, quantity }];
  await api('PUT', '/cart', { body: { items } });
  notice(`Added ${quantity} × ${product.name} to your cart.`);
}

async function showCart() {
  const [cart] = await Promise.all([api('GET', '/cart'), products.size ? null : loadProducts()]);
  renderCart(cart);
}

function renderCart(cart) {
  let total = 0;
  const rows = cart.items.map((line) => {
    const product = products.get(line.productId);
    const name = product?.name ?? line.productId;
    const lineTotal = (product?.priceCents ?? 0) * line.quantity;
    total += lineTotal;
    const id = `cart-quantity-${line.productId}`;
    return h(
      'tr',
      {},
      h('th', { scope: 'row' }, name),
      h(
        'td',
        {},
        h('label', { for: id, class: 'visually-hidden' }, `Quantity of ${name}`),
        h('input', { id, 'data-product': line.productId, type: 'number', min: 1, max: 100, value: line.quantity }),
      ),
      h('td', { class: 'num' }, money(lineTotal)),
      h(
        'td',
        {},
        h(
          'button',
          { type: 'button', onclick: () => act($('#cart-form'), () => removeLine(line.productId)) },
          'Remove',
          hidden(`: ${name}`),
        ),
      ),
    );
  });
  $('#cart-lines').replaceChildren(...rows);
  $('#cart-total').textContent = money(total);
  $('#cart-expiry').textContent = cart.expiresAt ? `Kept until ${when(cart.expiresAt)}.` : '';
  $('#cart-form').hidden = cart.items.length === 0;
  $('#cart-empty').hidden = cart.items.length > 0;
}

async function saveCart() {
  const items = [...document.querySelectorAll('#cart-lines input')].map((input) => ({
    productId: input.dataset.product,
    quantity: Number(input.value),
  }));
  renderCart(await api('PUT', '/cart', { body: { items } }));
  notice('Cart saved.');
}

async function removeLine(productId) {
  const cart = await api('GET', '/cart');
  const items = cart.items.filter((item) => item.productId !== productId);
  if (items.length) renderCart(await api('PUT', '/cart', { body: { items } }));
  else await emptyCart();
  document.querySelector('[data-view="cart"] h1').focus(); // the focused button is gone
}

async function emptyCart() {
  await api('DELETE', '/cart');
  renderCart({ items: [] });
  notice('Your cart is empty.');
}

async function placeOrder(form) {
  const fields = Object.fromEntries(new FormData(form));
  const { paymentToken, line2, ...address } = fields;
  const body = { shippingAddress: line2 ? { ...address, line2 } : address, paymentToken };
  const text = JSON.stringify(body);
  if (pendingOrder?.text !== text) pendingOrder = { text, key: crypto.randomUUID() };
  const order = await api('POST', '/orders', { body, headers: { 'Idempotency-Key': pendingOrder.key } });
  pendingOrder = undefined;
  go('#/orders', `Order ${order.orderId} placed: ${money(order.totalCents, order.currency)}.`);
}

// --- Orders and approvals -------------------------------------------------------------------------------

async function showOrders(current) {
  const { items } = await api('GET', '/orders?limit=20');
  if (current !== generation) return;
  renderOrders(items);
  if (items.some((order) => !FINAL.has(order.status))) {
    setTimeout(() => pollOrders(current), POLL_MS);
  }
}

async function pollOrders(current) {
  if (current !== generation) return;
  try {
    await showOrders(current);
  } catch (error) {
    if (current === generation) showError(error);
  }
}

function renderOrders(orders) {
  const changes = [];
  for (const order of orders) {
    const before = statuses.get(order.orderId);
    if (before && before !== order.status) changes.push(`Order ${order.orderId} is now ${order.status}.`);
    statuses.set(order.orderId, order.status);
  }
  if (changes.length) notice(changes.join(' '));
  $('#orders-empty').hidden = orders.length > 0;
  $('#orders-table').hidden = orders.length === 0;
  $('#orders').replaceChildren(
    ...orders.map((order) =>
      h(
        'tr',
        { 'data-order': order.orderId },
        h('th', { scope: 'row' }, order.orderId),
        h('td', {}, when(order.createdAt)),
        h('td', {}, order.items.map((item) => `${item.quantity} × ${item.name}`).join(', ')),
        h('td', { class: 'num' }, money(order.totalCents, order.currency)),
        h(
          'td',
          {},
          h('span', { class: `status status-${order.status.toLowerCase()}` }, order.status),
          order.failureReason ? ` (${order.failureReason})` : null,
        ),
        h('td', {}, order.trackingNumber ?? ''),
      ),
    ),
  );
}

async function showApprovals() {
  const { items } = await api('GET', '/approvals');
  $('#approvals-empty').hidden = items.length > 0;
  $('#approvals-table').hidden = items.length === 0;
  $('#approvals').replaceChildren(
    ...items.map((approval) =>
      h(
        'tr',
        { 'data-order': approval.orderId },
        h('th', { scope: 'row' }, approval.orderId),
        h('td', {}, approval.customerId),
        h('td', { class: 'num' }, money(approval.totalCents)),
        h('td', {}, when(approval.requestedAt)),
        h('td', {}, when(approval.expiresAt)),
        h(
          'td',
          { class: 'actions' },
          ['approve', 'reject'].map((decision) =>
            h(
              'button',
              {
                type: 'button',
                class: decision,
                onclick: (event) => act(event.currentTarget, () => decide(approval.orderId, decision)),
              },
              decision === 'approve' ? 'Approve' : 'Reject',
              hidden(` order ${approval.orderId}`),
            ),
          ),
        ),
      ),
    ),
  );
}

async function decide(orderId, decision) {
  const order = await api('POST', `/approvals/${encodeURIComponent(orderId)}`, { body: { decision } });
  await showApprovals();
  document.querySelector('[data-view="approvals"] h1').focus();
  notice(`Order ${order.orderId} ${decision === 'approve' ? 'approved' : 'rejected'}.`);
}

// --- Start ----------------------------------------------------------------------------------------------

function wire() {
  on('#sign-in-form', 'submit', async (form) => {
    await signIn(form.elements.email.value, form.elements.password.value);
    form.reset();
    go('#/catalog', `Signed in as ${session.email}.`);
  });
  on('#sign-up-form', 'submit', async (form) => {
    const email = form.elements.email.value;
    await cognito('SignUp', {
      ClientId: config.userPoolClientId,
      Username: email,
      Password: form.elements.password.value,
      UserAttributes: [{ Name: 'email', Value: email }],
    });
    form.reset();
    $('#confirm-email').value = email;
    $('#confirm-code').focus();
    notice('Account created: enter the confirmation code sent to your email.');
  });
  on('#confirm-form', 'submit', async (form) => {
    const email = form.elements.email.value;
    await cognito('ConfirmSignUp', {
      ClientId: config.userPoolClientId,
      Username: email,
      ConfirmationCode: form.elements.code.value,
    });
    form.reset();
    $('#sign-in-email').value = email;
    go('#/sign-in', 'Account confirmed: sign in to start shopping.', '#sign-in-password');
  });
  on('#cart-form', 'submit', saveCart);
  on('#empty-cart', 'click', emptyCart);
  on('#order-form', 'submit', placeOrder);
  on('#refresh-approvals', 'click', showApprovals);
  $('#sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => route());
}

async function start() {
  const response = await fetch('config.json');
  if (!response.ok) throw new ShopError(`config.json could not be loaded (${response.status}).`);
  config = await response.json();
  // Cognito on the console's own origin (the distribution's /cognito behaviour): the CSP allows no other host.
  config.cognitoEndpoint ??= '/cognito';
  wire();
  showSession();
  await route(false);
}

start().catch(showError);
