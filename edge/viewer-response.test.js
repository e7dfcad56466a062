// The viewer-response function: the security headers on every response, the origin's other headers kept.
// Run with `node --test edge/`.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { loadHandler, viewerResponse } = require('./sandbox.js');

const handler = loadHandler('viewer-response.js');
const ONE_YEAR_SECONDS = 365 * 24 * 60 * 60;

function headersAfter(originHeaders = {}) {
    return handler(viewerResponse({ headers: originHeaders })).headers;
}

function header(name, originHeaders) {
    const found = headersAfter(originHeaders)[name];
    assert.ok(found, `no ${name} header`);
    return found.value;
}

// "a 'b'; c d" -> {a: ["'b'"], c: ["d"]}
function directives(policy) {
    const parsed = {};
    for (const directive of policy.split(';')) {
        const [name, ...sources] = directive.trim().split(/\s+/);
        parsed[name] = sources;
    }
    return parsed;
}

test('HSTS lasts at least a year, covers subdomains and asks for preloading', () => {
    const hsts = header('strict-transport-security');

    const maxAge = Number(/max-age=(\d+)/.exec(hsts)[1]);
    assert.ok(maxAge >= ONE_YEAR_SECONDS, `max-age=${maxAge} is under a year`);
    assert.match(hsts, /;\s*includeSubDomains(;|$)/);
    assert.match(hsts, /;\s*preload$/);
});

test('the content security policy allows only what the console uses', () => {
    const policy = directives(header('content-security-policy'));

    assert.deepEqual(policy, {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'", 'wss://*.execute-api.us-east-1.amazonaws.com'],
        'font-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
    });
});

test('the content security policy allows no inline or evaluated script', () => {
    const policy = header('content-security-policy');

    assert.doesNotMatch(policy, /'unsafe-inline'|'unsafe-eval'|'unsafe-hashes'|\*(?!\.)/);
});

test('content types are not sniffed', () => {
    assert.equal(header('x-content-type-options'), 'nosniff');
});

test('the referrer is cut to the origin across sites', () => {
    assert.equal(header('referrer-policy'), 'strict-origin-when-cross-origin');
});

test('no page may frame the console', () => {
    assert.equal(header('x-frame-options'), 'DENY');
});

test('camera, microphone, geolocation and payment are switched off', () => {
    assert.equal(header('permissions-policy'), 'camera=(), microphone=(), geolocation=(), payment=()');
});

test("the origin's other headers are kept as they came", () => {
    const origin = {
        'content-type': { value: 'application/json' },
        'cache-control': { value: 'public, max-age=60' },
        etag: { value: '"abc"' },
        vary: { value: 'Accept-Encoding', multiValue: [{ value: 'Accept-Encoding' }, { value: 'Origin' }] },
    };

    const headers = headersAfter(origin);

    for (const [name, value] of Object.entries(origin)) {
        assert.deepEqual(headers[name], value, name);
    }
});

test("a security header the origin set is replaced by ours", () => {
    assert.equal(header('x-frame-options', { 'x-frame-options': { value: 'SAMEORIGIN' } }), 'DENY');
});

test('a security header the origin sent twice becomes our single value', () => {
    const twice = { value: 'a', multiValue: [{ value: 'a' }, { value: "default-src *" }] };

    const policy = headersAfter({ 'content-security-policy': twice })['content-security-policy'];

    assert.equal(policy.multiValue.length, 1);
    assert.equal(policy.multiValue[0].value, policy.value);
    assert.match(policy.value, /^default-src 'self';/);
});

test('header names are lower case, as CloudFront requires of a function', () => {
    for (const name of Object.keys(headersAfter())) {
        assert.equal(name, name.toLowerCase());
    }
});

test('the status code is left as it came', () => {
    assert.equal(handler(viewerResponse({ statusCode: 304 })).statusCode, 304);
});
