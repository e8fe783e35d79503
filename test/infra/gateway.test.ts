import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv-draft-04';
import { parse as parseYaml } from 'yaml';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { queuedRun } from '../../lambdas/core/store';
import { type ApiDeps, handleRequest } from '../../lambdas/handlers/api/router';
import { synthStack } from './support';

// Issue 11 item 6: what API Gateway answers and accepts before the Lambda runs, taken from the synthesized
// template: its 400 bodies render as JSON (problem+json in the router's type scheme) for the validator's
// documented messages, and its body models accept exactly what the router accepts, judged by a draft-4
// validator (API Gateway's model dialect) on every example and a corpus of bad bodies.

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const { template } = synthStack();
const resources = template.toJSON().Resources as Resources;
const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);

/** Apache Commons Lang's StringEscapeUtils.escapeJavaScript, which `$util.escapeJavaScript` is. */
function escapeJavaScript(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    const u = (n: number) => `\\u${n.toString(16).toUpperCase().padStart(4, '0')}`;
    if (code > 0xffff) {
      const s = ch;
      out += u(s.charCodeAt(0)) + u(s.charCodeAt(1));
    } else if (code > 0x7f) out += u(code);
    else if (code < 32) {
      const named: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };
      out += named[code] ?? u(code);
    } else if (ch === '"' || ch === "'" || ch === '\\' || ch === '/') out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/** Renders the VTL of a gateway response template for one validator message (the parts our templates use). */
function render(vtl: string, message: string): string {
  return vtl
    .replace(
      /\$util\.escapeJavaScript\(\$context\.error\.validationErrorString\)(?:\.replaceAll\("((?:[^"\\]|\\.)*)","((?:[^"\\]|\\.)*)"\))?/g,
      (_m, regex?: string, replacement?: string) => {
        const escaped = escapeJavaScript(message);
        return regex === undefined ? escaped : escaped.replace(new RegExp(regex, 'g'), replacement ?? '');
      },
    )
    .replace(/\$context\.error\.validationErrorString/g, message);
}

// Messages API Gateway's request validator is documented (and seen) to give.
const VALIDATOR_MESSAGES = [
  'Invalid request body',
  '[object has missing required properties (["vantages"])]',
  '[instance type (string) does not match any allowed primitive type (allowed: ["object"])]',
  '[object instance has properties which are not allowed by the schema: ["extra"]]',
  '[instance failed to match exactly one schema (matched 0 out of 2)]',
  '[ECMA 262 regex "^[a-z0-9]" does not match input string "It\'s C:\\\\temp / ünïcode"]',
  'Missing required request parameters: [name]',
];

describe("API Gateway's own 400 answers", () => {
  const responses = ofType('AWS::ApiGateway::GatewayResponse');

  it.each(VALIDATOR_MESSAGES)('render as problem+json for %s', (message) => {
    const validation = responses.filter((r) =>
      ['BAD_REQUEST_BODY', 'BAD_REQUEST_PARAMETERS'].includes(String(r.Properties.ResponseType)),
    );
    expect(validation).toHaveLength(2);
    for (const r of validation) {
      // Act
      const body = render(
        (r.Properties.ResponseTemplates as Record<string, string>)['application/json'] ?? '',
        message,
      );
      // Assert
      const parsed = JSON.parse(body) as { type: string; status: number; detail: string };
      expect(parsed.detail).toBe(message);
      expect(parsed.status).toBe(400);
      expect(parsed.type).toBe('urn:preflight:problem:validation-error');
    }
  });

  it("use the router's type scheme in every response", () => {
    for (const r of responses) {
      const body = JSON.parse(
        render((r.Properties.ResponseTemplates as Record<string, string>)['application/json'] ?? '', 'x'),
      ) as {
        type: string;
      };
      expect(body.type).toMatch(/^urn:preflight:problem:[a-z-]+$/);
    }
  });
});

describe('the body models and the router accept the same bodies', () => {
  let db: RunningDynalite;
  let deps: ApiDeps;
  const ajv = new Ajv({ allErrors: true });
  const model = (name: string) => {
    const found = ofType('AWS::ApiGateway::Model').find((m) => m.Properties.Name === name);
    if (!found) throw new Error(`no model ${name}`);
    return ajv.compile(found.Properties.Schema as object);
  };

  beforeAll(async () => {
    db = await startDynalite();
    const store = new DynamoResultStore(db.client, { tableName: db.tableName });
    deps = {
      store,
      catalog: defaultCatalog(),
      starter: { start: (i) => store.createRun(queuedRun(i.environment.name, i.trigger, new Date())) },
      mode: 'local',
      allowedTargetCidrs: ['0.0.0.0/0', '::/0'],
      resolve: async () => ['10.1.2.3'],
    };
  });
  afterAll(async () => {
    await db.close();
  });

  const call = async (method: string, path: string, body: unknown) =>
    (
      await handleRequest(
        {
          method,
          path,
          query: {},
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
        deps,
      )
    ).status;

  const EXAMPLES = ['wave-1.yaml', 'hdm.yaml', 'vm-based.yaml', 'localhost.yaml', 'livedata.json'].map(
    (f) => ({
      file: f,
      body: parseYaml(readFileSync(join(__dirname, '..', '..', 'examples', f), 'utf8')) as Record<
        string,
        unknown
      >,
    }),
  );
  const good = () => structuredClone(EXAMPLES[0]?.body as Record<string, unknown>);
  const BAD_ENVIRONMENTS: Array<[string, unknown]> = [
    ['an array', []],
    ['a string', 'wave-1'],
    ['a number', 42],
    ['no vantages', { ...good(), vantages: undefined }],
    ['no vantage at all', { ...good(), vantages: [] }],
    ['vantages not a list', { ...good(), vantages: 'workers' }],
    ['a vantage without name', { ...good(), vantages: [{ roles: ['target-worker'] }] }],
    ['an unknown field', { ...good(), extra: 1 }],
    ['a name that is a number', { ...good(), name: 5 }],
    ['a timeout that is text', { ...good(), probe: { timeoutMs: 'fast' } }],
    ['a timeout under the minimum', { ...good(), probe: { timeoutMs: 10 } }],
    ['a flow without ports', { ...good(), flows: [{ name: 'x', to: ['10.0.0.1'] }] }],
    ['includeOptional as text', { ...good(), includeOptional: 'yes' }],
  ];

  it.each(EXAMPLES)(
    'accepts $file in a PUT, with and without its name, like the router',
    async ({ body }) => {
      const name = String(body.name);
      const { name: _omitted, ...withoutName } = body;
      for (const candidate of [body, withoutName]) {
        expect(model('Environment')(candidate)).toBe(true);
        expect(await call('PUT', `/environments/${name}`, candidate)).toBe(200);
      }
    },
  );

  it.each(EXAMPLES)(
    'accepts $file in a POST /checks, inline and by name, like the router',
    async ({ body }) => {
      for (const candidate of [{ environment: body }, { environmentName: String(body.name) }]) {
        expect(model('StartCheck')(candidate)).toBe(true);
        expect(await call('POST', '/checks', candidate)).toBe(202);
      }
    },
  );

  it.each(BAD_ENVIRONMENTS)(
    'refuses %s in a PUT and inline in a POST, like the router',
    async (_what, body) => {
      const put = JSON.parse(JSON.stringify(body ?? null)) as unknown;
      expect(model('Environment')(put)).toBe(false);
      expect(await call('PUT', '/environments/wave-1', put)).toBe(400);
      expect(model('StartCheck')({ environment: put })).toBe(false);
      expect(await call('POST', '/checks', { environment: put })).toBe(400);
    },
  );

  it.each([
    ['nothing', {}],
    ['both forms', { environmentName: 'wave-1', environment: good() }],
    ['a name that is a number', { environmentName: 5 }],
    ['an unknown field', { environmentName: 'wave-1', extra: true }],
    ['an array', []],
  ])('refuses a POST /checks with %s, like the router', async (_what, body) => {
    expect(model('StartCheck')(body)).toBe(false);
    expect(await call('POST', '/checks', body)).toBe(400);
  });
});
