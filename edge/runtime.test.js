// What CloudFront accepts of a function: its size, and only what the cloudfront-js-2.0 runtime offers (see
// "JavaScript runtime 2.0 features for CloudFront Functions" in the CloudFront Developer Guide). A static scan
// with the list below, plus the sandbox the other tests run in, which has none of Node's globals.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { FUNCTION_FILES, functionCode, handlerFromCode } = require('./sandbox.js');

// CloudFront's quota on the size of one function's code.
const MAX_FUNCTION_BYTES = 10 * 1024;
// The modules a function may require() in cloudfront-js-2.0.
const RUNTIME_MODULES = ['crypto', 'querystring', 'buffer', 'cloudfront'];
// Names and syntax the runtime does not have, each with why. Matched outside comments, strings and regular
// expression literals.
const NOT_IN_THE_RUNTIME = [
    [/\b(fetch|XMLHttpRequest|WebSocket|EventSource)\b/, 'no network access at the edge'],
    [
        /\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|queueMicrotask)\b/,
        'no timers: a function runs to completion',
    ],
    [/\bprocess\b/, 'no process object and no environment variables'],
    [/\bBuffer\b/, "the runtime's Buffer is a subset of Node's: a test in node would pass on what the edge lacks"],
    [/\b(global|__dirname|__filename)\b/, 'no Node globals'],
    [/\b(module|exports)\b/, 'no CommonJS: CloudFront calls the top-level handler, it loads no module'],
    [/\b(import|export)\b/, 'no ES modules'],
    [/\beval\b|\bFunction\s*\(/, 'dynamic code evaluation throws'],
    [/\bconsole\b/, 'no logging on every request (and console.log takes one argument there)'],
    [/\bclass\b/, 'no classes'],
    [/\.\.\./, 'no spread syntax'],
    [/\?\.|\?\?/, 'no optional chaining or nullish coalescing'],
    [/\bfor\s*\([^;)]*\bof\b/, 'no for...of'],
    [/\b(localeCompare|fromEntries|structuredClone|URL|URLSearchParams|Proxy|Reflect)\b/, 'not among the built-ins'],
    [/\bArray\.from\b/, 'not among the built-ins (Array.of is)'],
];
// Viewer functions get no request body, and a viewer-response function does not see the origin's body.
const READS_A_BODY = /\.\s*body\b|\[\s*['"`]body['"`]\s*\]/;

// The code with comments removed, and the contents of strings (unless keepStrings), template literals and
// regular expression literals blanked, so that the scan sees only code.
function codeOnly(source, { keepStrings = false } = {}) {
    let out = '';
    let previous = ''; // the last character of code, to tell a regular expression from a division
    let i = 0;
    while (i < source.length) {
        const c = source[i];
        const next = source[i + 1];
        if (c === '/' && next === '/') {
            while (i < source.length && source[i] !== '\n') i++;
        } else if (c === '/' && next === '*') {
            i = source.indexOf('*/', i + 2) + 2;
            if (i === 1) i = source.length;
        } else if (c === "'" || c === '"' || c === '`') {
            const end = literalEnd(source, i, c);
            out += keepStrings && c !== '`' ? source.slice(i, end) : `${c}${c}`;
            previous = c;
            i = end;
        } else if (c === '/' && (previous === '' || '(,=:[!&|?{};'.includes(previous) || /\breturn\s*$/.test(out))) {
            const end = regexEnd(source, i);
            out += '/ /';
            previous = '/';
            i = end;
        } else {
            out += c;
            if (!/\s/.test(c)) previous = c;
            i++;
        }
    }
    return out;
}

function literalEnd(source, start, quote) {
    let i = start + 1;
    while (i < source.length && source[i] !== quote) i += source[i] === '\\' ? 2 : 1;
    return i + 1;
}

function regexEnd(source, start) {
    let i = start + 1;
    let inClass = false;
    while (i < source.length && (inClass || source[i] !== '/')) {
        if (source[i] === '[') inClass = true;
        if (source[i] === ']') inClass = false;
        i += source[i] === '\\' ? 2 : 1;
    }
    i++;
    while (i < source.length && /[a-z]/.test(source[i])) i++;
    return i;
}

// Every way the code steps outside the runtime, as sentences; none for code CloudFront would run.
function runtimeProblems(source) {
    const code = codeOnly(source);
    const withStrings = codeOnly(source, { keepStrings: true });
    const problems = [];
    if (!/^(async )?function handler\s*\(\s*event\s*\)/m.test(code)) {
        problems.push('no top-level function handler(event)');
    }
    for (const [pattern, why] of NOT_IN_THE_RUNTIME) {
        const found = pattern.exec(code);
        if (found) problems.push(`uses ${found[0].trim()}: ${why}`);
    }
    for (const call of withStrings.matchAll(/\brequire\b\s*(\(\s*(['"])([^'"]*)\2\s*\))?/g)) {
        if (!RUNTIME_MODULES.includes(call[3])) {
            problems.push(`requires ${call[3] || 'something'}: only ${RUNTIME_MODULES.join(', ')} are available`);
        }
    }
    if (READS_A_BODY.test(withStrings)) {
        problems.push('reads a body: a viewer function has none to read');
    }
    return problems;
}

for (const file of FUNCTION_FILES) {
    test(`${file} is under CloudFront's 10 KB limit`, () => {
        const bytes = Buffer.byteLength(functionCode(file), 'utf8');

        assert.ok(bytes <= MAX_FUNCTION_BYTES, `${file} is ${bytes} bytes, over ${MAX_FUNCTION_BYTES}`);
    });

    test(`${file} uses only what cloudfront-js-2.0 offers`, () => {
        assert.deepEqual(runtimeProblems(functionCode(file)), []);
    });
}

// --- the checks themselves can fail -------------------------------------------------------------------------

test('the scan reports Node and browser APIs the runtime lacks', () => {
    const source = [
        'function handler(event) {',
        '    setTimeout(() => fetch("https://example.com"), 1);',
        '    return process.env.X || Buffer.from("a");',
        '}',
    ].join('\n');

    const problems = runtimeProblems(source);

    for (const name of ['fetch', 'setTimeout', 'process', 'Buffer']) {
        assert.ok(problems.some((problem) => problem.startsWith(`uses ${name}:`)), `${name} not reported: ${problems}`);
    }
});

test('the scan reports a module the runtime does not have, and accepts its own', () => {
    const source = "const fs = require('fs');\nconst crypto = require('crypto');\nfunction handler(event) {}";

    assert.deepEqual(runtimeProblems(source), [
        'requires fs: only crypto, querystring, buffer, cloudfront are available',
    ]);
});

test('the scan reports a guarded CommonJS export', () => {
    const source = "function handler(event) {}\nif (typeof module !== 'undefined') module.exports = { handler };";

    assert.ok(runtimeProblems(source).some((problem) => problem.startsWith('uses module:')));
});

test('the scan reports reading the request body', () => {
    const source = 'function handler(event) {\n    return JSON.parse(event.request.body.data);\n}';

    assert.deepEqual(runtimeProblems(source), ['reads a body: a viewer function has none to read']);
});

test('the scan reports syntax the runtime does not parse', () => {
    const source = 'function handler(event) {\n    for (const k of [...a]) {}\n    return a?.b ?? c;\n}\nclass X {}';

    const problems = runtimeProblems(source);

    assert.equal(problems.length, 4, problems.join('\n'));
});

test('the scan reports a file without a top-level handler', () => {
    assert.deepEqual(runtimeProblems('const handler = (event) => event.request;'), [
        'no top-level function handler(event)',
    ]);
});

test('the scan ignores names in comments, strings and regular expressions', () => {
    const source = [
        '// fetch() and process are mentioned here only',
        'function handler(event) {',
        "    const note = 'setTimeout is not called';",
        '    return /process|fetch/.test(event.request.uri) ? note : event.request;',
        '}',
    ].join('\n');

    assert.deepEqual(runtimeProblems(source), []);
});

test('the sandbox the functions are tested in has none of Node\'s globals', () => {
    for (const name of ['require', 'module', 'process', 'Buffer', 'setTimeout', 'fetch']) {
        const run = handlerFromCode(`function handler(event) { return typeof ${name}; }`, `${name}.js`);

        assert.equal(run({}), 'undefined', name);
    }
});

test('the sandbox runs a function in strict mode, as CloudFront does', () => {
    const run = handlerFromCode('function handler(event) { undeclared = 1; return event; }', 'sloppy.js');

    assert.throws(() => run({}), /undeclared is not defined/);
});
