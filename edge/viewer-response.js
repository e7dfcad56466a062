// CloudFront Function (cloudfront-js-2.0), viewer response, on every behaviour: the security headers of the
// console and the API. Headers the origin set are kept, except these, which are ours to decide.
// template.yaml embeds this file byte for byte (tests/template/test_edge.py); `node --test edge/` tests it.

// The console loads its own scripts, styles, fonts and images only, and calls this origin (the API under /api/ and
// Cognito under /cognito: the distribution's behaviours; the local gateway proxies both too) and one other: the live
// updates' WebSocket API, the stack's WebSocketUrl output, wss://{api id}.execute-api.{region}.amazonaws.com/live.
// This code is static (embedded in the template as it is, with no !Sub), so the API's id, which CloudFormation picks,
// cannot be named: the host wildcard is the narrowest source that fits, wss: only, in the one region the stack is
// deployed to (samconfig.toml's, every environment; tests/template/test_edge.py fails when one names another). A
// stack deployed elsewhere has its socket refused here, and its console polls as it did before live updates.
const CONTENT_SECURITY_POLICY = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' wss://*.execute-api.us-east-1.amazonaws.com",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'"
].join('; ');

const SECURITY_HEADERS = {
    'strict-transport-security': 'max-age=63072000; includeSubDomains; preload',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'x-frame-options': 'DENY',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()'
};

function handler(event) {
    const response = event.response;
    const headers = response.headers;
    Object.keys(SECURITY_HEADERS).forEach((name) => {
        const ours = { value: SECURITY_HEADERS[name] };
        // A header the origin sent twice comes with a multiValue list, which CloudFront applies over value.
        if (headers[name] && headers[name].multiValue) {
            ours.multiValue = [{ value: ours.value }];
        }
        headers[name] = ours;
    });
    return response;
}
