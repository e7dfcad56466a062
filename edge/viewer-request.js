// CloudFront Function (cloudfront-js-2.0), viewer request, on the console's default behaviour, on the cached
// GET /api/products* behaviour and on /cognito. It refuses path traversal, serves the console's client-side
// routes from /index.html, normalizes the cache key (host in lower case, only the allowed query keys, sorted),
// and sends /cognito to the root of Cognito's endpoint, where its API listens.
// template.yaml embeds this file byte for byte (tests/template/test_edge.py); `node --test edge/` tests it.

// The query keys the API reads (GET /products, GET /orders): any other key would only split the cache.
// Matched case-sensitively, as the API reads them. The console's own address bar is not affected: a
// client-side route keeps its query string in the browser, only the request to the bucket loses it.
const ALLOWED_QUERY_KEYS = ['limit', 'nextToken'];
// Cognito's user pool API on the console's own origin, so that the console's Content-Security-Policy can
// say connect-src 'self' (see the viewer-response function).
const COGNITO_PATH = '/cognito';
// Enough rounds to see through double encoding (%252e%252e); a path still changing after that is refused.
const DECODE_ROUNDS = 3;
const PROBLEM = JSON.stringify({
    type: 'about:blank',
    title: 'Bad Request',
    status: 400,
    detail: 'the request path is not allowed'
});

function handler(event) {
    const request = event.request;
    if (isTraversal(request.uri)) {
        return badRequest();
    }
    if (request.uri === COGNITO_PATH) {
        request.uri = '/';
        request.querystring = {};
        return request;
    }
    request.uri = originPath(request.uri);
    if (request.headers.host) {
        request.headers.host.value = request.headers.host.value.toLowerCase();
    }
    request.querystring = allowedQuery(request.querystring);
    return request;
}

// A ".." segment, a backslash or a NUL, as sent or hidden behind percent-encoding. Malformed encoding is
// refused too: what it would decode to cannot be checked.
function isTraversal(uri) {
    let path = uri;
    for (let round = 0; round < DECODE_ROUNDS; round++) {
        if (path.indexOf('\\') !== -1 || path.indexOf('\u0000') !== -1 || /(^|\/)\.\.(\/|$)/.test(path)) {
            return true;
        }
        let decoded;
        try {
            decoded = decodeURIComponent(path);
        } catch (malformed) {
            return true;
        }
        if (decoded === path) {
            return false;
        }
        path = decoded;
    }
    return true;
}

// The console is a single-page app: every path that is not a file (no extension in its last segment) and not
// the API is one of its routes, which only index.html can serve. The distribution's custom error responses
// cannot do this, as they would also turn the API's own 403 and 404 into the console's page.
function originPath(uri) {
    if (uri.startsWith('/api/')) {
        return uri;
    }
    const lastSegment = uri.slice(uri.lastIndexOf('/') + 1);
    return /\.[A-Za-z0-9]+$/.test(lastSegment) ? uri : '/index.html';
}

// Only the allowed keys, in sorted order: CloudFront's cache key depends on the order of the query string.
function allowedQuery(querystring) {
    const allowed = {};
    Object.keys(querystring)
        .filter((key) => ALLOWED_QUERY_KEYS.indexOf(key) !== -1)
        .sort()
        .forEach((key) => {
            allowed[key] = querystring[key];
        });
    return allowed;
}

function badRequest() {
    return {
        statusCode: 400,
        statusDescription: 'Bad Request',
        headers: {
            'content-type': { value: 'application/problem+json' },
            'cache-control': { value: 'no-store' },
            'x-content-type-options': { value: 'nosniff' }
        },
        body: { encoding: 'text', data: PROBLEM }
    };
}
