import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalog } from '../../lambdas/core/catalog';
import {
  classifyAddress,
  EnvironmentError,
  parseEnvironment,
  parseEnvironmentText,
} from '../../lambdas/core/environment';

const catalog = defaultCatalog();

const base = {
  name: 'wave-1',
  profiles: ['rivermeadow-os'],
  vantages: [
    {
      name: 'workers',
      roles: ['target-worker'],
      subnetIds: ['subnet-0123456789abcdef0'],
      securityGroupIds: ['sg-0123456789abcdef0'],
    },
  ],
  endpoints: { 'migration-appliance': ['10.20.0.5'] },
};

/** Parses and returns the problems, failing the test if it parses. */
function problemsOf(raw: unknown): readonly string[] {
  try {
    parseEnvironment(raw, catalog, 'env.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(EnvironmentError);
    return (err as EnvironmentError).problems;
  }
  throw new Error('expected the environment to be rejected');
}

describe('environment files', () => {
  it('reads the example environments shipped in examples/', () => {
    for (const file of ['wave-1.yaml', 'localhost.yaml', 'vm-based.yaml', 'hdm.yaml', 'livedata.json']) {
      // Arrange
      const text = readFileSync(join(__dirname, '../../examples', file), 'utf8');
      // Act
      const env = parseEnvironmentText(text, catalog, file);
      // Assert
      expect(env.vantages.length).toBeGreaterThan(0);
    }
  });

  it('fills in the probe defaults', () => {
    // Act
    const env = parseEnvironment(structuredClone(base), catalog);
    // Assert
    expect(env.probe).toEqual({ timeoutMs: 3000, concurrency: 512, retries: 2 });
    expect(env.flows).toEqual([]);
    expect(env.includeOptional).toBe(true);
  });

  it('names the path and the value of a bad security group id', () => {
    // Arrange
    const raw = structuredClone(base);
    raw.vantages[0]!.securityGroupIds = ['sg-0123456789abcdef0', 'sg-12'];
    // Act
    const problems = problemsOf(raw);
    // Assert
    expect(problems).toEqual(['vantages[0].securityGroupIds[1]: "sg-12" is not a security group id (sg-…)']);
  });

  it('names the path and the value of a bad subnet id, endpoint address and port list, all at once', () => {
    // Arrange
    const raw = {
      ...structuredClone(base),
      vantages: [{ name: 'workers', roles: ['target-worker'], subnetIds: ['subnet-xyz'] }],
      endpoints: { 'migration-appliance': ['10.20.0.300'] },
      flows: [{ name: 'db', to: ['10.0.0.1'], ports: '1433,70000' }],
    };
    // Act
    const problems = problemsOf(raw);
    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        'vantages[0].subnetIds[0]: "subnet-xyz" is not a subnet id (subnet-…)',
        'endpoints.migration-appliance[0]: "10.20.0.300" is not a host name, IP address or CIDR block',
        expect.stringMatching(
          /^flows\[0\]\.ports: "1433,70000" is not a port list \(port 70000 is outside 1-65535\)/,
        ),
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('lists the valid ids when a profile or role is unknown', () => {
    // Arrange
    const raw = {
      ...structuredClone(base),
      profiles: ['rivermedow-os'],
      endpoints: { 'migration-aplliance': ['10.0.0.1'] },
    };
    raw.vantages[0]!.roles = ['target-wroker'];
    // Act
    const problems = problemsOf(raw);
    // Assert
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(
      /^profiles\[0\]: "rivermedow-os" is not a profile \(known: livedata-migrator, primaryio-hdm, rivermeadow-os, rivermeadow-vm\)$/,
    );
    expect(problems[1]).toMatch(
      /^vantages\[0\]\.roles\[0\]: "target-wroker" is not a role \(known: .*target-worker.*\)$/,
    );
    expect(problems[2]).toMatch(
      /^endpoints\.migration-aplliance: "migration-aplliance" is not a role \(known: .*migration-appliance.*\)$/,
    );
  });

  it('rejects unknown fields, wrong types and missing fields by path', () => {
    // Arrange
    const raw = { ...structuredClone(base), vantage: [], probe: { timeoutMs: '3s' } } as Record<
      string,
      unknown
    >;
    delete raw.name;
    // Act
    const problems = problemsOf(raw);
    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        'name: is required (string)',
        'probe.timeoutMs: expected number, got "3s"',
        'vantage: unknown field "vantage"',
      ]),
    );
  });

  it('rejects duplicate vantage names, a flow from an unknown vantage and an unknown exclusion', () => {
    // Arrange
    const raw = {
      ...structuredClone(base),
      vantages: [base.vantages[0], { ...base.vantages[0], roles: ['target-worker'] }],
      flows: [{ name: 'db', from: 'wokers', to: ['10.0.0.1'], ports: '1433' }],
      exclude: ['rm-no-such-row', 'hdm-appliance-vcenter'],
    };
    // Act
    const problems = problemsOf(raw);
    // Assert
    expect(problems).toEqual([
      'vantages[1].name: "workers" is used by another vantage; names must be unique',
      'flows[0].from: "wokers" is not a vantage (known: workers)',
      'exclude[0]: "rm-no-such-row" is not a requirement id (see `preflight catalog`)',
      'exclude[1]: "hdm-appliance-vcenter" is not a requirement of the profiles rivermeadow-os',
    ]);
  });

  it('rejects a cron field out of range with the scheduler parser, naming the field', () => {
    // Act
    const problems = problemsOf({ ...structuredClone(base), schedule: 'cron(60 6 ? * MON-FRI *)' });
    // Assert
    expect(problems).toEqual([
      expect.stringMatching(
        /^schedule: "cron\(60 6 \? \* MON-FRI \*\)" is not a valid schedule: the minutes field item "60" is out of range \(allowed: 0-59\)/,
      ),
    ]);
  });

  it('rejects a schedule that EventBridge would not accept', () => {
    // Act
    const problems = problemsOf({ ...structuredClone(base), schedule: 'every hour' });
    // Assert
    expect(problems).toEqual([
      'schedule: "every hour" is not a valid schedule: expected rate(…), cron(…) or at(…), for example rate(1 hour), cron(0 6 ? * MON-FRI *) or at(2026-12-01T06:00:00)',
    ]);
  });

  it('gives the line and column of a YAML syntax error', () => {
    // Act
    const act = () => parseEnvironmentText('name: wave-1\nprofiles: [rivermeadow-os\n', catalog, 'bad.yaml');
    // Assert
    expect(act).toThrow(EnvironmentError);
    expect(act).toThrow(/^bad\.yaml: line \d+, column \d+: /);
  });

  it('rejects an empty file and duplicate keys', () => {
    expect(() => parseEnvironmentText('', catalog, 'e.yaml')).toThrow('e.yaml: the file is empty');
    expect(() => parseEnvironmentText('name: a\nname: b\n', catalog, 'd.yaml')).toThrow(/d\.yaml: line 2/);
  });

  it('classifies endpoint strings', () => {
    expect(classifyAddress('10.20.0.5')).toBe('ip');
    expect(classifyAddress('fd00::5')).toBe('ip');
    expect(classifyAddress('10.20.0.0/16')).toBe('cidr');
    expect(classifyAddress('fd00::/56')).toBe('cidr');
    expect(classifyAddress('app01.corp.example')).toBe('hostname');
    expect(classifyAddress('10.20.0.0/33')).toBeUndefined();
    expect(classifyAddress('10.20.0.300')).toBeUndefined();
    expect(classifyAddress('bad_host!')).toBeUndefined();
    expect(classifyAddress('-leading.example')).toBeUndefined();
  });
});

describe('a parsed environment', () => {
  it('parses again to itself, so it can be stored and read back (flow ports stay canonical text)', () => {
    // Arrange
    const raw = {
      ...structuredClone(base),
      flows: [{ name: 'db', to: ['10.0.0.1'], ports: '5023, 1433,5022' }],
    };
    // Act
    const once = parseEnvironment(raw, catalog);
    const twice = parseEnvironment(JSON.parse(JSON.stringify(once)), catalog);
    // Assert
    expect(once.flows[0]!.ports).toBe('1433,5022-5023');
    expect(twice).toEqual(once);
  });
});
