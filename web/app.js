// The shop's web console. Customers: the catalog, the cart, checkout and their orders; approvers: the orders waiting
// for a decision and any order by its number. Every order has a page with its items and the path it took through the
// workflow. Plain ES module, no build step; settings come from config.json next to this file.

// Statuses after which nothing changes soon by itself: polling stops (a shipment waits for the carrier, for days).
// Pages poll only while the live updates' socket is not open (see Live updates).
const SETTLED = new Set(['SHIPPED', 'DELIVERED', 'CANCELLED', 'REJECTED', 'FAILED']);
const ENDED = new Set(['CANCELLED', 'REJECTED', 'FAILED']); // off the workflow's path, compensated
const CANCELLABLE = new Set(['PLACED', 'AWAITING_APPROVAL']); // the contract: 409 once paid or final
const PATH = ['PLACED', 'AWAITING_APPROVAL', 'PAID', 'SHIPPED', 'DELIVERED'];
const MAX_QUANTITY = 100; // a cart line's quantity, 1–100 (docs/openapi.json)
const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const POLL_MS = 2000;
const APPROVALS_REFRESH_MS = 5000;
const LIVE_RETRY_FIRST_MS = 1000; // the socket's reconnection: 1 s, doubling up to 30 s, each with jitter
const LIVE_RETRY_MAX_MS = 30_000;
const LIVE_PING_MS = 5 * 60_000; // API Gateway closes a connection after 10 minutes without a frame
const LIVE_PING = JSON.stringify({ action: 'ping' });
const SESSION_KEY = 'shop.session';
const GROUPS = { customers: 'customer', admins: 'approver' }; // cognito:groups -> what the console offers

const STATUS_WORDS = {
  PLACED: 'Placed',
  AWAITING_APPROVAL: 'Waiting for approval',
  PAID: 'Paid',
  SHIPPED: 'Shipped',
  DELIVERED: 'Delivered',
  CANCELLED: 'Cancelled',
  REJECTED: 'Rejected',
  FAILED: 'Failed',
};
const FAILURE_WORDS = {
  OUT_OF_STOCK: 'out of stock',
  PAYMENT_DECLINED: 'card declined',
  SHIPPING_FAILED: 'could not be shipped',
  TECHNICAL_FAILURE: 'a technical problem',
};

const $ = (selector) => document.querySelector(selector);

let config;
let session = loadSession();
let products = new Map();
let lastCart = { items: [] }; // the cart as last shown: names the lines of an order placed from it
let flash = ''; // a notice that survives the next navigation
let focusNext = ''; // what the next navigation focuses instead of the page's heading
let generation = 0; // bumped on every navigation and sign-out: a poll from a page left behind stops
let shownView = { name: '', parameter: undefined }; // the page on screen, for what a socket message changes
let pollTimer; // the shown page's next poll: one at a time, none while the socket is open
let live = null; // the live updates' socket and its timers, while someone is signed in
const statuses = new Map(); // orderId -> last status seen, to announce changes
// orderId -> the latest time its status is known from (a message's `at`, an order's `updatedAt`): anything older,
// a late message or a read that crossed one, is not shown over it.
const latestChange = new Map();
const customerEmails = new Map(); // orderId -> the customer's e-mail, as the approvals list gave it
let shownOrder = null; // the order on the order page
let pendingOrder; // {text, key}: resubmitting the same order keeps its Idempotency-Key

class ShopError extends Error {
  // `problems`: [{text, name?, productId?}], one sentence per field, for the person who filled the form in.
  constructor(message, problems = [], { quiet = false } = {}) {
    super(message);
    this.problems = problems;
    this.quiet = quiet; // already told (a session that ended sends the person to sign in)
  }
}

// --- What the services say, in words for people ---------------------------------------------------------------

const RELOAD = 'The console sent something the shop could not read. Reload the page and try again.';
// By the problem's type (urn:problem:order-fulfillment:<kind>), then by status.
const PROBLEM_WORDS = {
  'own-order': 'You placed this order yourself: another approver must decide it.',
  'idempotency-key-in-progress': 'Your order is still being placed. Wait a moment, then look at My orders.',
  'idempotency-key-reused': 'This order was already placed with other details. Reload the page and try again.',
  'invalid-page-token': 'The list could not be continued. Reload the page.',
  'malformed-json': RELOAD,
  400: RELOAD,
  403: 'Your account is not allowed to do this.',
  404: 'This could not be found: it may no longer exist.',
  409: 'This could not be done because something changed meanwhile. Reload the page to see where things stand.',
  413: 'That is more than the shop accepts at once.',
  415: RELOAD,
  422: 'The shop could not accept these details.',
  429: 'The shop is busy right now. Try again in a moment.',
  500: 'Something went wrong on the shop’s side. Try again in a moment.',
};
const COGNITO_WORDS = {
  NotAuthorizedException: 'The email address or password is not right.',
  UserNotFoundException: 'The email address or password is not right.',
  UserNotConfirmedException: 'Confirm your account first: enter the code from your email under Sign up.',
  UsernameExistsException: 'An account with this email address exists already: sign in instead.',
  AliasExistsException: 'An account with this email address exists already: sign in instead.',
  InvalidPasswordException:
    'Choose a stronger password: at least 12 characters, with upper and lower case letters and a digit.',
  InvalidParameterException: 'Check the email address and password: one of them is not in a form the shop accepts.',
  CodeMismatchException: 'That confirmation code is not right. Check the email and try again.',
  ExpiredCodeException: 'That confirmation code has expired. Sign up again to get a new one.',
  TooManyRequestsException: 'Too many attempts. Wait a few minutes and try again.',
  TooManyFailedAttemptsException: 'Too many attempts. Wait a few minutes and try again.',
  LimitExceededException: 'Too many attempts. Wait a few minutes and try again.',
  PasswordResetRequiredException: 'Your password must be reset before you can sign in.',
};
// Fields as the person sees them (the labels of the forms), by their path in a request body.
const FIELD_LABELS = {
  'shippingAddress.name': 'Name',
  'shippingAddress.line1': 'Address line 1',
  'shippingAddress.line2': 'Address line 2',
  'shippingAddress.city': 'City',
  'shippingAddress.postalCode': 'Postal code',
  'shippingAddress.country': 'Country',
  shippingAddress: 'Shipping address',
  paymentToken: 'Payment',
  items: 'Cart',
  decision: 'Decision',
  comment: 'Comment',
};
const PATTERN_WORDS = {
  'shippingAddress.country': 'Country must be a two-letter code, such as US.',
  paymentToken: 'Choose one of the test cards under Payment.',
};

const headline = (problems) =>
  problems.length === 1 ? 'One detail needs correcting:' : 'Some details need correcting:';

// "not enough stock" -> "Not enough stock."
function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return '';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?:]$/.test(capital) ? capital : `${capital}.`;
}

function describeProblem(status, problem, { body, explain = {} }) {
  const kind = typeof problem?.type === 'string' ? problem.type.split(':').at(-1) : '';
  const said = explain[kind] ?? explain[status] ?? PROBLEM_WORDS[kind];
  if (said) return new ShopError(said);
  const problems = (Array.isArray(problem?.errors) ? problem.errors : []).map((error) => describeField(error, body));
  if (problems.length) {
    return new ShopError(headline(problems), problems);
  }
  return new ShopError(PROBLEM_WORDS[status] ?? (status >= 500 ? PROBLEM_WORDS[500] : sentence(problem?.detail)));
}

// {location: ['body', 'items', 0, 'quantity'], message: 'Input should be less than or equal to 100'}
//   -> {text: 'Quantity of Descaling solution must be between 1 and 100.', productId: 'descaler'}
function describeField(error, body) {
  const location = Array.isArray(error?.location) ? error.location : [];
  const message = String(error?.message ?? '');
  const path = location.slice(1); // after where it was: body, cart, query, header
  if (path[0] === 'items' && typeof path[1] === 'number') {
    const lines = location[0] === 'cart' ? lastCart.items : body?.items;
    const productId = lines?.[path[1]]?.productId;
    const what = products.get(productId)?.name ?? productId ?? `Line ${path[1] + 1}`;
    const field = path.slice(2).join('.');
    let text;
    if (field === 'quantity') text = `Quantity of ${what} must be between 1 and ${MAX_QUANTITY}.`;
    else if (/listed twice/.test(message)) text = `${what} is in the order twice: keep one line of it.`;
    else if (/unknown product/.test(message)) text = `${what} is no longer sold: remove it and try again.`;
    else text = `${what}: ${sentence(message)}`;
    return { text, productId, name: field || undefined };
  }
  const field = path.join('.');
  const label = FIELD_LABELS[field] ?? sentence(String(path.at(-1) ?? 'The request')).replace(/\.$/, '');
  return { text: fieldSentence(field, label, message), name: path.at(-1) };
}

function fieldSentence(field, label, message) {
  let found;
  if (/no items given and the cart is empty/.test(message)) return 'Your cart is empty: add products before you order.';
  if (/^Field required|at least 1 character/.test(message)) return `${label} is required.`;
  if ((found = /at most (\d+) characters?/.exec(message))) {
    return `${label} can be at most ${found[1]} characters long.`;
  }
  if ((found = /at least (\d+) characters?/.exec(message))) {
    return `${label} must be at least ${found[1]} characters long.`;
  }
  if ((found = /at most (\d+) items?/.exec(message))) {
    return field === 'items'
      ? `An order can hold at most ${found[1]} different products.`
      : `${label} can hold at most ${found[1]}.`;
  }
  if ((found = /less than or equal to (\d+)/.exec(message))) return `${label} can be at most ${found[1]}.`;
  if ((found = /greater than or equal to (\d+)/.exec(message))) return `${label} must be at least ${found[1]}.`;
  if (/valid integer/.test(message)) return `${label} must be a whole number.`;
  if (/should match pattern/.test(message)) {
    return PATTERN_WORDS[field] ?? `${label} is not in a form the shop accepts.`;
  }
  if (/Extra inputs are not permitted/.test(message)) return RELOAD;
  return `${label}: ${sentence(message)}`;
}

// --- HTTP -----------------------------------------------------------------------------------------------

// `explain`: what a refusal means for this call, by problem type or status ({404: 'There is no order ...'}).
async function api(method, path, { body, headers = {}, explain } = {}) {
  const init = { method, headers: { ...headers } };
  if (session) init.headers.Authorization = `Bearer ${session.idToken}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${config.apiBase}${path}`, init);
  } catch {
    throw new ShopError('The shop could not be reached. Check your connection and try again.');
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.ok) return data;
  if (response.status === 401 && session) {
    signOut('Your session has ended: sign in again.');
    throw new ShopError('Your session has ended.', [], { quiet: true });
  }
  throw describeProblem(response.status, data, { body, explain });
}

async function cognito(action, body) {
  let response;
  try {
    response = await fetch(config.cognitoEndpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ShopError('The sign-in service could not be reached. Check your connection and try again.');
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const type = String(data.__type ?? '').split('#').at(-1);
    throw new ShopError(COGNITO_WORDS[type] ?? (sentence(data.message) || 'That did not work. Try again in a moment.'));
  }
  return data;
}

// --- Session --------------------------------------------------------------------------------------------

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    if (saved && saved.expiresAt > Date.now()) return saved;
  } catch {
    // unreadable: as good as none
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

function claimsOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
}

// cognito:groups is a list in an ID token (API Gateway passes it on as "a,b"): accept both.
const groupsOf = (claim) => (Array.isArray(claim) ? claim : String(claim ?? '').split(/[,\s]+/)).filter(Boolean);

async function signIn(email, password) {
  const result = await cognito('InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: config.userPoolClientId,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  if (!result.AuthenticationResult) {
    throw new ShopError('Signing in needs a step this console does not offer. Ask the shop for help.');
  }
  const idToken = result.AuthenticationResult.IdToken;
  const claims = claimsOf(idToken);
  forget(); // whatever the previous person left in the page
  session = {
    idToken,
    sub: claims.sub,
    email: claims.email ?? email,
    groups: groupsOf(claims['cognito:groups']),
    expiresAt: claims.exp * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  showSession();
  startLive();
}

function signOut(message = 'Signed out.') {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  forget();
  showSession();
  go('#/sign-in', message);
}

// Everything one person saw or typed, gone from the page: the next person who signs in starts from nothing.
function forget() {
  generation += 1; // stops every poll and countdown
  stopLive();
  clearTimeout(pollTimer);
  shownView = { name: '', parameter: undefined };
  statuses.clear();
  latestChange.clear();
  customerEmails.clear();
  shownOrder = null;
  pendingOrder = undefined;
  lastCart = { items: [] };
  const lists = ['#orders', '#approvals', '#cart-lines', '#order-lines', '#order-timeline', '#order-actions'];
  for (const selector of lists) $(selector).replaceChildren();
  for (const selector of ['#cart-total', '#cart-expiry', '#order-status', '#order-placed', '#order-customer']) {
    $(selector).textContent = '';
  }
  $('#order-address').replaceChildren();
  $('#order-total').textContent = '';
  $('#order-back').replaceChildren();
  $('#order-heading').textContent = 'Order';
  $('#order-details').hidden = true;
  for (const table of ['#orders-table', '#approvals-table']) $(table).hidden = true;
  for (const form of document.querySelectorAll('form')) form.reset();
}

const roles = () =>
  session ? ['signed-in', ...session.groups.map((group) => GROUPS[group]).filter(Boolean)] : ['guest'];
const isCustomer = () => roles().includes('customer');
const isApprover = () => roles().includes('approver');
// Where a person starts: approvers (who do not shop) at their approvals, everyone else at the catalog.
const home = () => (isApprover() && !isCustomer() ? '#/approvals' : '#/catalog');

function showSession() {
  const mine = roles();
  for (const node of document.querySelectorAll('[data-show]')) {
    node.hidden = !node.dataset.show.split(' ').some((role) => mine.includes(role));
  }
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
  node.append(...children.flat().filter((child) => child != null && child !== false));
  return node;
}

const hidden = (text) => h('span', { class: 'visually-hidden' }, text);
const money = (cents, currency = 'USD') =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(cents / 100);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
const time = (iso) => h('time', { datetime: iso }, when(iso));
const orderHref = (orderId) => `#/orders/${encodeURIComponent(orderId)}`;
const statusText = (order) =>
  order.failureReason
    ? `${STATUS_WORDS[order.status]}: ${FAILURE_WORDS[order.failureReason] ?? order.failureReason}`
    : (STATUS_WORDS[order.status] ?? order.status);
const statusBadge = (order) =>
  h('span', { class: `status status-${order.status.toLowerCase()}`, 'data-status': order.status }, statusText(order));

function notice(text) {
  $('#notice').textContent = text;
}

function clearMessages() {
  $('#error').replaceChildren();
  $('#notice').textContent = '';
  for (const node of document.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
}

function showError(error) {
  if (error?.quiet) return;
  if (!(error instanceof ShopError)) console.error(error); // a fault of the console itself: keep it visible
  const message =
    error instanceof ShopError ? error.message : 'Something went wrong in this page. Reload it and try again.';
  const problems = error?.problems ?? [];
  const parts = [h('p', {}, message)];
  if (problems.length) parts.push(h('ul', {}, problems.map((problem) => h('li', {}, problem.text))));
  $('#error').replaceChildren(...parts);
  const view = document.querySelector('[data-view]:not([hidden])');
  for (const problem of problems) {
    const selector = problem.productId
      ? `input[data-product="${CSS.escape(problem.productId)}"]`
      : `[name="${CSS.escape(String(problem.name ?? ''))}"]`;
    const inputs = view?.querySelectorAll(selector) ?? [];
    if (inputs.length === 1) inputs[0].setAttribute('aria-invalid', 'true');
  }
}

// What the browser can tell before asking anyone: required fields left empty, named by their labels.
function requireFilled(form) {
  const problems = [...form.querySelectorAll('[required]')]
    .filter((input) => !input.value.trim())
    .map((input) => ({
      text: `${form.querySelector(`label[for="${input.id}"]`).textContent} is required.`,
      name: input.name,
    }));
  if (problems.length) {
    throw new ShopError(headline(problems), problems);
  }
}

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

// Runs `action` if the page that asked is still shown; its failures are shown, not thrown.
async function quietly(current, action) {
  if (current !== generation) return;
  try {
    await action();
  } catch (error) {
    if (current === generation) showError(error);
  }
}

// The shown page reads its data again after `ms`, unless the open socket tells it when (`told`).
function poll(current, ms, action, told = liveOpen()) {
  clearTimeout(pollTimer);
  if (!told) pollTimer = setTimeout(() => quietly(current, action), ms);
}

// --- Routing --------------------------------------------------------------------------------------------

const views = {
  'sign-in': { title: 'Sign in', guests: true },
  'sign-up': { title: 'Sign up', guests: true },
  catalog: { title: 'Catalog', render: showCatalog },
  cart: { title: 'Cart', for: ['customer'], render: showCart },
  orders: { title: 'My orders', for: ['customer'], render: showOrders },
  order: { title: 'Order', for: ['customer', 'approver'], render: showOrder },
  approvals: { title: 'Pending approvals', for: ['approver'], render: showApprovals },
  'find-order': { title: 'Find an order', for: ['approver'] },
};

function go(hash, message = '', focus = '') {
  flash = message;
  focusNext = focus;
  if (location.hash === hash) route();
  else location.hash = hash;
}

// '#/orders/ord_1' -> ['order', 'ord_1']; '#/cart' -> ['cart']
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  if (parts[0] === 'orders' && parts.length === 2 && parts[1]) {
    try {
      return ['order', decodeURIComponent(parts[1])];
    } catch {
      return ['order', parts[1]];
    }
  }
  const name = parts.join('/');
  return [Object.hasOwn(views, name) ? name : session ? home().slice(2) : 'catalog'];
}

async function route(focus = true) {
  const current = ++generation;
  clearMessages();
  if (flash) notice(flash);
  flash = '';
  const [name, parameter] = parseHash();
  const spec = views[name];
  if (spec.for && !session) {
    go('#/sign-in', 'Sign in to see this page.');
    return;
  }
  if (spec.for && !spec.for.some((role) => roles().includes(role))) {
    go(home(), spec.for.includes('customer') ? 'That page is for customers.' : 'That page is for approvers.');
    return;
  }
  if (spec.guests && session) {
    go(home(), `You are signed in as ${session.email}.`);
    return;
  }
  document.title = `${spec.title} – Shop console`;
  shownView = { name, parameter };
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
    await spec.render?.(current, parameter);
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

async function showCatalog(current) {
  await loadProducts();
  if (current !== generation) return;
  $('#products').replaceChildren(...[...products.values()].map(productCard));
}

function productCard(product) {
  const id = `quantity-${product.productId}`;
  // Guests may add (they are asked to sign in); an approver does not shop.
  const buying = !session || isCustomer();
  const form = buying
    ? h(
        'form',
        { class: 'add', novalidate: true },
        h('label', { for: id }, 'Quantity', hidden(` of ${product.name}`)),
        h('input', {
          id,
          name: 'quantity',
          'data-product': product.productId,
          type: 'number',
          min: 1,
          max: MAX_QUANTITY,
          value: 1,
          inputmode: 'numeric',
        }),
        h('button', { type: 'submit' }, 'Add to cart', hidden(`: ${product.name}`)),
      )
    : null;
  form?.addEventListener('submit', (event) => {
    event.preventDefault();
    act(form, () => addToCart(product, Number(form.elements.quantity.value)));
  });
  return h(
    'li',
    { class: 'product' },
    productImage(product),
    h('h2', {}, product.name),
    h('p', { class: 'price' }, money(product.priceCents, product.currency)),
    h('p', { class: 'hint' }, product.available > 0 ? `${product.available} in stock` : 'Out of stock'),
    form ?? h('p', { class: 'hint' }),
  );
}

// Resized at the edge (docs/images.md): /images/{width}/{format}/{productId}.{format}, one URL per variant, so the
// browser picks the width it needs. A product without a picture shows none (the image hides itself on an error).
const IMAGE_WIDTHS = [160, 320, 640];
function productImage(product) {
  const src = (width) => `/images/${width}/webp/${encodeURIComponent(product.productId)}.webp`;
  const image = h('img', {
    class: 'product-image',
    src: src(320),
    srcset: IMAGE_WIDTHS.map((width) => `${src(width)} ${width}w`).join(', '),
    sizes: '(max-width: 480px) 100vw, 320px',
    width: 320,
    height: 240,
    alt: '',
    loading: 'lazy',
    decoding: 'async',
  });
  image.addEventListener('error', () => image.remove());
  return image;
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

async function showCart(current) {
  const [cart] = await Promise.all([api('GET', '/cart'), products.size ? null : loadProducts()]);
  if (current === generation) renderCart(cart);
}

function renderCart(cart) {
  lastCart = cart;
  let total = 0;
  const rows = cart.items.map((line) => {
    const product = products.get(line.productId);
    const name = product?.name ?? line.productId;
    const lineTotal = (product?.priceCents ?? 0) * line.quantity;
    total += lineTotal;
    const id = `cart-quantity-${line.productId}`;
    return h(
      'tr',
      { role: 'row' },
      h('th', { scope: 'row', role: 'rowheader' }, name),
      h(
        'td',
        { role: 'cell', 'data-label': 'Quantity' },
        h('label', { for: id, class: 'visually-hidden' }, `Quantity of ${name}`),
        h('input', {
          id,
          'data-product': line.productId,
          type: 'number',
          min: 1,
          max: MAX_QUANTITY,
          value: line.quantity,
        }),
      ),
      h('td', { role: 'cell', class: 'num', 'data-label': 'Line total' }, money(lineTotal)),
      h(
        'td',
        { role: 'cell' },
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
  form.reset();
  go(orderHref(order.orderId), `Order ${order.orderId} placed: ${money(order.totalCents, order.currency)}.`);
}

// --- My orders and the order page -------------------------------------------------------------------------

function announce(orders) {
  const changes = [];
  for (const order of orders) {
    const before = statuses.get(order.orderId);
    if (before && before !== order.status) {
      changes.push(`Order ${order.orderId} is now ${statusText(order).toLowerCase()}.`);
    }
    statuses.set(order.orderId, order.status);
  }
  if (changes.length) notice(changes.join(' '));
}

async function showOrders(current) {
  const { items } = await api('GET', '/orders?limit=20');
  if (current !== generation) return;
  renderOrders(items);
  if (items.some((order) => !SETTLED.has(order.status))) poll(current, POLL_MS, () => showOrders(current));
}

function renderOrders(orders) {
  const shown = new Map([...$('#orders').children].map((row) => [row.dataset.order, row]));
  // A row that a message brought up to date stays as it is when this read is older.
  const rows = orders.map((order) => (isOutdated(order) && shown.get(order.orderId)) || orderRow(order));
  announce(orders.filter((order) => !isOutdated(order)));
  $('#orders-empty').hidden = orders.length > 0;
  $('#orders-table').hidden = orders.length === 0;
  $('#orders').replaceChildren(...rows);
}

function orderRow(order) {
  noteChange(order.orderId, order.updatedAt);
  return h(
    'tr',
    { role: 'row', 'data-order': order.orderId },
    h('th', { scope: 'row', role: 'rowheader' }, h('a', { href: orderHref(order.orderId) }, order.orderId)),
    h('td', { role: 'cell', 'data-label': 'Placed' }, time(order.createdAt)),
    h(
      'td',
      { role: 'cell', 'data-label': 'Items' },
      order.items.map((item) => `${item.quantity} × ${item.name}`).join(', '),
    ),
    h('td', { role: 'cell', class: 'num', 'data-label': 'Total' }, money(order.totalCents, order.currency)),
    h('td', { role: 'cell', 'data-label': 'Status' }, statusBadge(order)),
    h('td', { role: 'cell', 'data-label': 'Tracking' }, order.trackingNumber ?? '–'),
  );
}

async function showOrder(current, orderId) {
  if (shownOrder?.orderId !== orderId) {
    shownOrder = null;
    $('#order-details').hidden = true;
    $('#order-heading').textContent = `Order ${orderId}`;
  }
  $('#order-back').replaceChildren(
    isCustomer()
      ? h('a', { href: '#/orders' }, '← My orders')
      : h('a', { href: '#/approvals' }, '← Pending approvals'),
  );
  if (!ORDER_ID.test(orderId)) throw new ShopError(`There is no order ${orderId}: check the number.`);
  const order = await api('GET', `/orders/${encodeURIComponent(orderId)}`, {
    explain: { 404: `There is no order ${orderId}${isApprover() ? '' : ' among your orders'}: check the number.` },
  });
  if (current !== generation) return;
  renderOrder(order);
  // The socket tells a customer of their own orders only: an approver looking at someone's order keeps polling.
  const told = liveOpen() && order.customerId === session?.sub;
  if (!SETTLED.has(order.status)) poll(current, POLL_MS, () => showOrder(current, orderId), told);
}

function renderOrder(order) {
  // A read older than a message already shown (it crossed the message's own read) would take the page back.
  if (isOutdated(order) && shownOrder?.orderId === order.orderId) return;
  noteChange(order.orderId, order.updatedAt);
  announce([order]);
  const changed = shownOrder?.orderId !== order.orderId || shownOrder.status !== order.status;
  shownOrder = order;
  document.title = `Order ${order.orderId} – Shop console`;
  $('#order-heading').textContent = `Order ${order.orderId}`;
  $('#order-status').replaceChildren(statusBadge(order));
  $('#order-placed').textContent = `Placed ${when(order.createdAt)}`;
  const email = customerEmails.get(order.orderId);
  $('#order-customer').textContent = isApprover() && email ? `by ${email}` : '';
  if (changed) {
    // Rebuilt only when the status moves: a poll must not take the focus off a button the person is on.
    $('#order-actions').replaceChildren(...orderActions(order));
    $('#order-timeline').replaceChildren(...timeline(order).map(timelineStep));
  }
  $('#order-lines').replaceChildren(
    ...order.items.map((line) =>
      h(
        'tr',
        { role: 'row' },
        h('th', { scope: 'row', role: 'rowheader' }, line.name),
        h('td', { role: 'cell', class: 'num', 'data-label': 'Quantity' }, String(line.quantity)),
        h('td', { role: 'cell', class: 'num', 'data-label': 'Unit price' }, money(line.unitPriceCents, order.currency)),
        h('td', { role: 'cell', class: 'num', 'data-label': 'Line total' }, money(line.lineTotalCents, order.currency)),
      ),
    ),
  );
  $('#order-total').textContent = money(order.totalCents, order.currency);
  const address = order.shippingAddress;
  $('#order-address').replaceChildren(
    ...[address.name, address.line1, address.line2, `${address.postalCode} ${address.city}`, address.country]
      .filter(Boolean)
      .flatMap((part, index) => (index ? [h('br'), part] : [part])),
  );
  $('#order-details').hidden = false;
}

function orderActions(order) {
  const actions = [];
  // The contract lets a customer cancel their own order before it is paid; nobody else.
  if (isCustomer() && order.customerId === session.sub && CANCELLABLE.has(order.status)) {
    actions.push(
      h(
        'button',
        { type: 'button', class: 'reject', onclick: (e) => act(e.currentTarget, () => cancelOrder(order)) },
        'Cancel this order',
      ),
    );
  }
  if (isApprover() && order.status === 'AWAITING_APPROVAL') {
    for (const decision of ['approve', 'reject']) {
      actions.push(
        h(
          'button',
          {
            type: 'button',
            class: decision,
            onclick: (e) => act(e.currentTarget, () => decideFromOrder(order.orderId, decision)),
          },
          decision === 'approve' ? 'Approve' : 'Reject',
        ),
      );
    }
  }
  return actions;
}

async function cancelOrder(order) {
  if (!window.confirm(`Cancel order ${order.orderId}? Nothing has been charged for it yet.`)) return;
  const path = `/orders/${encodeURIComponent(order.orderId)}`;
  let cancelled;
  try {
    cancelled = await api('POST', `${path}/cancel`, {
      explain: { 409: 'This order can no longer be cancelled: it has been paid or has ended already.' },
    });
  } catch (error) {
    if (!error.quiet) renderOrder(await api('GET', path)); // show where it stands now
    throw error;
  }
  renderOrder(cancelled);
  $('#order-heading').focus(); // the button is gone
  notice(`Order ${order.orderId} is cancelled. Nothing was charged, and the stock held for it is released.`);
}

async function decideFromOrder(orderId, decision) {
  await decide(orderId, decision);
  renderOrder(await api('GET', `/orders/${encodeURIComponent(orderId)}`));
  $('#order-heading').focus();
  notice(`Order ${orderId} ${decision === 'approve' ? 'approved' : 'rejected'}.`);
}

// The workflow's path as far as this order went: every status it reached (from its history), the step it is in,
// the steps still to come; or, when it left the path, how it ended and what was undone.
function timeline(order) {
  const reached = new Map();
  for (const change of order.history) if (!reached.has(change.status)) reached.set(change.status, change.at);
  const waited = reached.has('AWAITING_APPROVAL') || order.status === 'AWAITING_APPROVAL';
  const path = PATH.filter((status) => status !== 'AWAITING_APPROVAL' || waited);
  const ended = ENDED.has(order.status);
  const steps = [];
  for (const status of path) {
    if (status === order.status && !SETTLED.has(status)) {
      steps.push({ status, state: 'current', at: reached.get(status) });
    } else if (reached.has(status)) {
      steps.push({ status, state: 'done', at: reached.get(status) });
    } else if (!ended) {
      steps.push({ status, state: 'next' });
    }
  }
  if (order.status === 'SHIPPED') steps.at(-1).state = 'current'; // the carrier has it: delivery is under way
  if (ended) steps.push({ status: order.status, state: 'ended', at: reached.get(order.status) ?? order.updatedAt });
  return steps.map((step) => ({ ...step, ...describeStep(step, order, reached) }));
}

function describeStep({ status, state }, order, reached) {
  const approved = reached.has('PAID');
  switch (status) {
    case 'PLACED':
      return { label: 'Placed', note: state === 'current' ? 'Checking the stock and taking the payment.' : '' };
    case 'AWAITING_APPROVAL':
      return {
        label: 'Approval',
        note:
          state === 'current'
            ? 'Waiting for an approver: orders like this one are looked at by a person.'
            : approved
              ? 'Approved.'
              : 'Sent to an approver.',
      };
    case 'PAID':
      return { label: 'Paid', note: state === 'current' ? 'The warehouse is packing it.' : '' };
    case 'SHIPPED':
      return { label: 'Shipped', note: order.trackingNumber ? `Tracking number ${order.trackingNumber}.` : '' };
    case 'DELIVERED':
      return { label: 'Delivered', note: state === 'current' ? 'On its way with the carrier.' : '' };
    case 'CANCELLED':
      return {
        label: 'Cancelled',
        note: 'Cancelled before payment: nothing was charged, and the stock held for it was released.',
      };
    case 'REJECTED':
      return {
        label: 'Rejected',
        note:
          'Not approved (an approver said no, or no decision came in time): nothing was charged, ' +
          'and the stock held for it was released.',
      };
    default:
      return {
        label: statusText(order),
        note:
          {
            OUT_OF_STOCK: 'Not enough stock for this order: nothing was charged.',
            PAYMENT_DECLINED: 'The card was declined: nothing was charged, and the stock held for it was released.',
            SHIPPING_FAILED: 'The warehouse could not ship it: the payment was refunded, and the stock released.',
          }[order.failureReason] ??
          'Something went wrong on our side: any payment was refunded, and the stock released.',
      };
  }
}

const STATE_WORDS = { done: 'done', current: 'in progress', next: 'not yet', ended: 'ended here' };

function timelineStep(step) {
  return h(
    'li',
    {
      class: `step step-${step.state}`,
      'data-step': step.status,
      'data-state': step.state,
      'aria-current': step.state === 'current' ? 'step' : null,
    },
    h(
      'p',
      { class: 'step-title' },
      h('strong', {}, step.label),
      hidden(` (${STATE_WORDS[step.state]})`),
      step.at ? [' ', time(step.at)] : null,
    ),
    step.note ? h('p', { class: 'hint' }, step.note) : null,
  );
}

// --- Approvals --------------------------------------------------------------------------------------------

async function showApprovals(current) {
  // A countdown every second, for as long as the page is shown; the list again every few seconds while the socket
  // is not open (when it is, APPROVAL_REQUESTED says when).
  const ticking = setInterval(() => {
    if (current === generation) tickApprovals();
    else clearInterval(ticking);
  }, 1000);
  await refreshApprovals(current);
}

async function refreshApprovals(current) {
  try {
    await loadApprovals(current);
  } finally {
    if (current === generation) poll(current, APPROVALS_REFRESH_MS, () => refreshApprovals(current));
  }
}

async function loadApprovals(current = generation) {
  const { items } = await api('GET', '/approvals');
  if (current === generation) renderApprovals(items);
}

// Rows are kept, added and removed by order id (not rebuilt), so a refresh leaves the focus where it was.
function renderApprovals(items) {
  const body = $('#approvals');
  const shown = new Map([...body.children].map((row) => [row.dataset.order, row]));
  const wanted = items.toSorted((a, b) => a.expiresAt.localeCompare(b.expiresAt));
  const rows = wanted.map((approval) => {
    if (approval.customerEmail) customerEmails.set(approval.orderId, approval.customerEmail);
    const row = shown.get(approval.orderId) ?? approvalRow(approval);
    shown.delete(approval.orderId);
    return row;
  });
  for (const gone of shown.values()) gone.remove();
  rows.forEach((row, index) => {
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] ?? null);
  });
  $('#approvals-empty').hidden = items.length > 0;
  $('#approvals-table').hidden = items.length === 0;
  tickApprovals();
}

function approvalRow(approval) {
  const id = approval.orderId;
  return h(
    'tr',
    { role: 'row', 'data-order': id, 'data-expires': approval.expiresAt },
    h('th', { scope: 'row', role: 'rowheader' }, h('a', { href: orderHref(id) }, id)),
    h(
      'td',
      { role: 'cell', 'data-label': 'Customer', class: 'customer' },
      approval.customerEmail ?? h('span', { class: 'hint' }, 'No e-mail address on record'),
    ),
    h('td', { role: 'cell', class: 'num', 'data-label': 'Amount' }, money(approval.totalCents)),
    h(
      'td',
      { role: 'cell', 'data-label': 'Time left' },
      h('span', { class: 'time-left', title: `Expires ${when(approval.expiresAt)}` }),
    ),
    h(
      'td',
      { role: 'cell' },
      h(
        'div',
        { class: 'actions' },
        ['approve', 'reject'].map((decision) =>
          h(
            'button',
            {
              type: 'button',
              class: decision,
              onclick: (event) => act(event.currentTarget, () => decideFromList(id, decision)),
            },
            decision === 'approve' ? 'Approve' : 'Reject',
            hidden(` order ${id}`),
          ),
        ),
      ),
    ),
  );
}

// 86_340_000 -> '23 h 59 min left'; 45_000 -> '0:45 left'
function timeLeft(milliseconds) {
  const seconds = Math.ceil(milliseconds / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours) return `${hours} h ${String(minutes).padStart(2, '0')} min left`;
  return `${minutes}:${String(seconds % 60).padStart(2, '0')} left`;
}

function tickApprovals() {
  const now = Date.now();
  for (const row of $('#approvals').children) {
    const left = Date.parse(row.dataset.expires) - now;
    const expired = left <= 0;
    row.querySelector('.time-left').textContent = expired ? 'Expired: it can no longer be decided' : timeLeft(left);
    row.classList.toggle('expired', expired);
    row.classList.toggle('urgent', !expired && left < 60_000);
    for (const button of row.querySelectorAll('button')) button.disabled = expired;
  }
}

async function decide(orderId, decision) {
  return api('POST', `/approvals/${encodeURIComponent(orderId)}`, {
    body: { decision },
    explain: {
      404: `Order ${orderId} does not wait for a decision.`,
      409: `Order ${orderId} no longer waits for a decision: it was decided, cancelled or its time ran out.`,
    },
  });
}

async function decideFromList(orderId, decision) {
  try {
    await decide(orderId, decision);
  } finally {
    await loadApprovals().catch(() => {}); // whatever happened, show the list as it is now
  }
  document.querySelector('[data-view="approvals"] h1').focus();
  notice(`Order ${orderId} ${decision === 'approve' ? 'approved' : 'rejected'}.`);
}

async function findOrder(form) {
  requireFilled(form);
  const orderId = form.elements.orderId.value.trim();
  if (!ORDER_ID.test(orderId)) {
    throw new ShopError('One detail needs correcting:', [
      { text: 'Order number has only letters, digits, _ and -, as in ord_4k2m…', name: 'orderId' },
    ]);
  }
  go(orderHref(orderId));
}

// --- Live updates ---------------------------------------------------------------------------------------
// One WebSocket while someone is signed in (docs/live-updates.md). Its messages are notices: on one, the page reads
// what it shows of that order, or the approvals list, once. While it is not open (not yet, dropped, refused, or no
// webSocketUrl in config.json) the pages poll as they always did; on every (re)connect they read their state once.

const liveOpen = () => live?.socket?.readyState === WebSocket.OPEN;

function startLive() {
  if (live || !session || !config?.webSocketUrl) return;
  live = { socket: null, retries: 0, retryTimer: 0, pingTimer: 0 };
  connectLive(live);
}

// Sign-out: the socket closed, no reconnection and no ping left behind.
function stopLive() {
  if (!live) return;
  const { socket, retryTimer, pingTimer } = live;
  live = null; // the socket's handlers check this first: a closing socket changes nothing any more
  clearTimeout(retryTimer);
  clearInterval(pingTimer);
  socket?.close(1000);
  delete document.documentElement.dataset.live;
}

function connectLive(state) {
  if (live !== state) return;
  // The console does not refresh tokens: past its expiry the authorizer refuses it, and the next API call ends the
  // session. Until then the pages poll.
  if (session.expiresAt <= Date.now()) return;
  let socket;
  try {
    socket = new WebSocket(`${config.webSocketUrl}?token=${encodeURIComponent(session.idToken)}`);
  } catch {
    return; // a URL the browser will not open (config.json): polling it is
  }
  state.socket = socket;
  let opened = false;
  socket.addEventListener('open', () => {
    if (live !== state) return;
    opened = true;
    state.retries = 0;
    document.documentElement.dataset.live = 'open'; // for tests and styles; people see fresh pages, not a socket
    state.pingTimer = setInterval(() => socket.send(LIVE_PING), LIVE_PING_MS);
    refreshShown(); // what changed while it was not open: read once, and stop polling
  });
  socket.addEventListener('message', (event) => {
    if (live === state) heard(event.data);
  });
  // A refused handshake (401, 403, 500) and a dropped connection look alike in a browser: an error, then close.
  socket.addEventListener('close', () => {
    if (live !== state) return;
    clearInterval(state.pingTimer);
    state.socket = null;
    document.documentElement.dataset.live = 'closed';
    if (opened) refreshShown(); // read once, and poll again until it is back
    retryLive(state);
  });
}

// Exponential backoff with jitter: consoles dropped together (a deployment, a network outage) come back spread out.
function retryLive(state) {
  const ceiling = Math.min(LIVE_RETRY_MAX_MS, LIVE_RETRY_FIRST_MS * 2 ** state.retries);
  state.retries += 1;
  state.retryTimer = setTimeout(() => connectLive(state), ceiling / 2 + (Math.random() * ceiling) / 2);
}

// Reads the shown page's state once (and, through poll, polls again only if the socket is not open).
function refreshShown() {
  const current = generation;
  const { name, parameter } = shownView;
  if (name === 'orders') quietly(current, () => showOrders(current));
  else if (name === 'order') quietly(current, () => showOrder(current, parameter));
  else if (name === 'approvals') quietly(current, () => refreshApprovals(current));
}

function heard(data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return; // not a message of the contract: nothing to show
  }
  if (message?.type === 'ORDER_STATUS_CHANGED') statusChanged(message);
  else if (message?.type === 'APPROVAL_REQUESTED' && shownView.name === 'approvals') {
    const current = generation;
    quietly(current, () => loadApprovals(current));
  }
}

function statusChanged({ orderId, status, at }) {
  if (typeof orderId !== 'string' || !ORDER_ID.test(orderId) || !Object.hasOwn(STATUS_WORDS, status)) return;
  if (!noteChange(orderId, at)) return; // older than what is known of the order: a late notice
  const current = generation;
  const { name, parameter } = shownView;
  if (name === 'order' && parameter === orderId) quietly(current, () => showOrder(current, orderId));
  else if (name === 'orders') quietly(current, () => refreshOrderRow(current, orderId));
}

async function refreshOrderRow(current, orderId) {
  const rowOf = () => $(`#orders tr[data-order="${CSS.escape(orderId)}"]`);
  if (!rowOf()) {
    await showOrders(current); // an order placed elsewhere (another tab, another device): the list, newest first
    return;
  }
  const order = await api('GET', `/orders/${encodeURIComponent(orderId)}`);
  const row = rowOf(); // the list may have been read again meanwhile
  if (current !== generation || !row || isOutdated(order)) return;
  announce([order]);
  row.replaceWith(orderRow(order));
}

const changedAt = (iso) => (typeof iso === 'string' ? Date.parse(iso) : Number.NaN);

// Keeps `at` as the order's latest known change if it is later than the one kept; says whether it was.
function noteChange(orderId, at) {
  const time = changedAt(at);
  if (Number.isNaN(time)) return false;
  if (time <= (latestChange.get(orderId) ?? Number.NEGATIVE_INFINITY)) return false;
  latestChange.set(orderId, time);
  return true;
}

// A read of the order older than a status it is known to have had since.
const isOutdated = (order) =>
  changedAt(order.updatedAt) < (latestChange.get(order.orderId) ?? Number.NEGATIVE_INFINITY);

// --- Start ----------------------------------------------------------------------------------------------

function wire() {
  on('#sign-in-form', 'submit', async (form) => {
    requireFilled(form);
    await signIn(form.elements.email.value.trim(), form.elements.password.value);
    form.reset();
    go(home(), `Signed in as ${session.email}.`);
  });
  on('#sign-up-form', 'submit', async (form) => {
    requireFilled(form);
    const email = form.elements.email.value.trim();
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
    requireFilled(form);
    const email = form.elements.email.value.trim();
    await cognito('ConfirmSignUp', {
      ClientId: config.userPoolClientId,
      Username: email,
      ConfirmationCode: form.elements.code.value.trim(),
    });
    form.reset();
    $('#sign-in-email').value = email;
    go('#/sign-in', 'Account confirmed: sign in to start shopping.', '#sign-in-password');
  });
  on('#cart-form', 'submit', saveCart);
  on('#empty-cart', 'click', emptyCart);
  on('#order-form', 'submit', placeOrder);
  on('#refresh-approvals', 'click', () => loadApprovals());
  on('#find-order-form', 'submit', findOrder);
  $('#sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => route());
}

async function start() {
  const response = await fetch('config.json');
  if (!response.ok) throw new ShopError('The console could not load its settings. Reload the page.');
  config = await response.json();
  // Cognito on the console's own origin (the distribution's /cognito behaviour): the CSP allows no other host.
  config.cognitoEndpoint ??= '/cognito';
  wire();
  showSession();
  startLive(); // a session kept from before a reload
  await route(false);
}

start().catch(showError);
