// Test support (not deployed): runs a CloudFront Function file the way CloudFront does, as a plain script in
// strict mode whose top-level `handler` is the entry point, in a fresh context that holds only the language's
// built-ins. Node's require, module, process, Buffer and timers are absent there, so a function that used
// them would fail its tests as it would fail at the edge.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const FUNCTION_FILES = ['viewer-request.js', 'viewer-response.js'];

function functionCode(file) {
    return fs.readFileSync(path.join(__dirname, file), 'utf8');
}

// The handler of edge/<file>.
function loadHandler(file) {
    return handlerFromCode(functionCode(file), file);
}

// The handler of some code. Events go in and results come out as JSON, as they cross CloudFront's boundary;
// this also gives plain objects of this realm to compare with assert.deepStrictEqual.
function handlerFromCode(code, file) {
    const context = vm.createContext({});
    const script = new vm.Script(`'use strict';\n${code}`, { filename: file, lineOffset: -1 });
    script.runInContext(context);
    if (typeof context.handler !== 'function') {
        throw new Error(`${file} declares no top-level function handler(event)`);
    }
    const json = vm.runInContext('JSON', context);
    return (event) => JSON.parse(json.stringify(context.handler(json.parse(JSON.stringify(event)))));
}

// A viewer-request event as CloudFront builds it (functions-event-structure): header names in lower case,
// query string and headers as {name: {value, multiValue?}}.
function viewerRequest({ uri = '/', querystring = {}, headers = {}, method = 'GET' } = {}) {
    return {
        version: '1.0',
        context: { distributionDomainName: 'd111111abcdef8.cloudfront.net', eventType: 'viewer-request' },
        viewer: { ip: '198.51.100.11' },
        request: {
            method,
            uri,
            querystring,
            headers: { host: { value: 'd111111abcdef8.cloudfront.net' }, ...headers },
            cookies: {},
        },
    };
}

function viewerResponse({ statusCode = 200, headers = {} } = {}) {
    const event = viewerRequest({ uri: '/index.html' });
    event.context.eventType = 'viewer-response';
    event.response = { statusCode, statusDescription: 'OK', headers, cookies: {} };
    return event;
}

module.exports = { FUNCTION_FILES, functionCode, handlerFromCode, loadHandler, viewerRequest, viewerResponse };
