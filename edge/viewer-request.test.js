// The viewer-request function: path traversal refused, console routes served from /index.html, cache key
// normalized. Run with `node --test edge/`.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { loadHandler, viewerRequest } = require('./sandbox.js');

const handler = loadHandler('viewer-request.js');

function uriAfter(uri) {
    return handler(viewerRequest({ uri })).uri;
}

function statusFor(uri) {
    return handler(viewerRequest({ uri })).statusCode;
}

// --- the console's routes -------------------------------------------------------------------------------------

test('the root is served from /index.html', () => {
    assert.equal(uriAfter('/'), '/index.html');
});

test('a client-side route is served from /index.html', () => {
    assert.equal(uriAfter('/orders/123'), '/index.html');
});

test('a client-side route with a trailing slash is served from /index.html', () => {
    assert.equal(uriAfter('/orders/'), '/index.html');
});

test('an API path is passed through unchanged', () => {
    assert.equal(uriAfter('/api/orders/123'), '/api/orders/123');
});

test("Cognito's path is sent to the root of Cognito's endpoint, with no query", () => {
    const request = handler(viewerRequest({ uri: '/cognito', querystring: { x: { value: '1' } } }));

    assert.equal(request.uri, '/');
    assert.deepEqual(request.querystring, {});
});

test("only Cognito's exact path goes to Cognito", () => {
    assert.equal(uriAfter('/cognito/'), '/index.html');
    assert.equal(uriAfter('/cognitox'), '/index.html');
});

test('a path to a file (an extension in its last segment) is passed through unchanged', () => {
    assert.equal(uriAfter('/assets/app.js'), '/assets/app.js');
    assert.equal(uriAfter('/favicon.ico'), '/favicon.ico');
});

test('a dot in a directory does not make a route a file', () => {
    assert.equal(uriAfter('/v1.2/orders'), '/index.html');
});

// --- the cache key ------------------------------------------------------------------------------------------

test('the host header is lower-cased', () => {
    const request = handler(viewerRequest({ headers: { host: { value: 'Shop.Example.COM' } } }));

    assert.equal(request.headers.host.value, 'shop.example.com');
});

test('other headers are left as they came', () => {
    const request = handler(viewerRequest({ headers: { accept: { value: 'Text/HTML' } } }));

    assert.deepEqual(request.headers.accept, { value: 'Text/HTML' });
});

test('query keys outside the allow-list are dropped', () => {
    const querystring = { limit: { value: '10' }, utm_source: { value: 'mail' }, fbclid: { value: 'x' } };

    const request = handler(viewerRequest({ uri: '/api/products', querystring }));

    assert.deepEqual(request.querystring, { limit: { value: '10' } });
});

test('allowed query keys are matched case-sensitively, as the API reads them', () => {
    const querystring = { Limit: { value: '10' }, nexttoken: { value: 'abc' } };

    const request = handler(viewerRequest({ uri: '/api/products', querystring }));

    assert.deepEqual(request.querystring, {});
});

test('the remaining query keys are sorted', () => {
    const querystring = { nextToken: { value: 'abc' }, limit: { value: '10' } };

    const request = handler(viewerRequest({ uri: '/api/products', querystring }));

    assert.deepEqual(Object.keys(request.querystring), ['limit', 'nextToken']);
});

test('a repeated allowed key keeps all its values, in their order', () => {
    const limit = { value: '5', multiValue: [{ value: '5' }, { value: '7' }] };

    const request = handler(viewerRequest({ uri: '/api/products', querystring: { limit } }));

    assert.deepEqual(request.querystring.limit, limit);
});

// --- path traversal -----------------------------------------------------------------------------------------

test('a ".." segment is refused with 400', () => {
    assert.equal(statusFor('/assets/../../etc/passwd'), 400);
    assert.equal(statusFor('/..'), 400);
});

test('a percent-encoded ".." segment is refused with 400, in either case', () => {
    assert.equal(statusFor('/assets/%2e%2e/secret'), 400);
    assert.equal(statusFor('/assets/%2E%2e/secret'), 400);
    assert.equal(statusFor('/assets/.%2e/secret'), 400);
});

test('a ".." behind an encoded slash is refused with 400', () => {
    assert.equal(statusFor('/assets/..%2fsecret'), 400);
});

test('a doubly encoded ".." segment is refused with 400', () => {
    assert.equal(statusFor('/assets/%252e%252e/secret'), 400);
});

test('a backslash, as sent or encoded, is refused with 400', () => {
    assert.equal(statusFor('/assets\\..\\secret'), 400);
    assert.equal(statusFor('/assets%5csecret'), 400);
});

test('a NUL, as sent or encoded, is refused with 400', () => {
    assert.equal(statusFor('/index.html\u0000.js'), 400);
    assert.equal(statusFor('/index.html%00.js'), 400);
});

test('malformed percent-encoding is refused with 400', () => {
    assert.equal(statusFor('/orders/%zz'), 400);
    assert.equal(statusFor('/orders/%e0%80'), 400);
});

test('percent-encoding that hides no traversal is accepted', () => {
    assert.equal(uriAfter('/assets/my%20logo.png'), '/assets/my%20logo.png');
    assert.equal(uriAfter('/products/caf%C3%A9'), '/index.html');
});

test('two dots inside a segment are not traversal', () => {
    assert.equal(uriAfter('/assets/app..min.js'), '/assets/app..min.js');
});

test('the refusal is a problem+json response that is not cached', () => {
    const response = handler(viewerRequest({ uri: '/%2e%2e/x' }));

    assert.equal(response.statusCode, 400);
    assert.equal(response.headers['content-type'].value, 'application/problem+json');
    assert.equal(response.headers['cache-control'].value, 'no-store');
    assert.equal(response.body.encoding, 'text');
    assert.deepEqual(JSON.parse(response.body.data), {
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        detail: 'the request path is not allowed',
    });
});
