import {
  buildReport,
  CUSTOM_PROFILE,
  OUTSIDE_VPC,
  reportSchema,
  UNKNOWN_PROFILE,
} from '../../../lambdas/core/report';
import type { FindingRecord } from '../../../lambdas/core/store';
import { catalog, waveFindings, waveRun } from './fixtures';

/** Probe states that make the example wave fail in four different ways. */
const FAILING_STATES = {
  '10.20.0.5:8888': 'closed', // refused: nothing listens
  '10.20.0.15:5994': 'filtered', // AWS allows it: on-premises firewall
  '10.20.0.16:5994': 'filtered', // the Security Group lacks the rule
  '10.20.0.40:1433': 'filtered', // the environment's own flow: SG, NACL and blackhole route
} as const;

describe('buildReport', () => {
  it('says which version of the JSON report it is, and version 2 counts notVerified (version 1 said other)', async () => {
    // Arrange
    const run = waveRun();
    const findings = await waveFindings(run, { audit: false });

    // Act
    const report = JSON.parse(
      JSON.stringify(buildReport(run, findings, catalog, { profiles: ['rivermeadow-os'] })),
    );

    // Assert
    expect(report.reportVersion).toBe(2);
    expect(Object.keys(report.totals)).toEqual(['pass', 'warn', 'fail', 'notVerified', 'blocking', 'total']);
    expect(report.totals.notVerified).toBeGreaterThan(0);
    expect(JSON.stringify(report)).not.toMatch(/"other"/);
  });

  it('says INCOMPLETE when every probed flow passes but required flows outside the VPC were not verified', async () => {
    // Arrange
    const run = waveRun();
    const findings = await waveFindings(run, { audit: false });

    // Act
    const report = buildReport(run, findings, catalog, { profiles: ['rivermeadow-os'] });
    const verifiedOnly = buildReport(
      run,
      findings.filter((f) => f.verdict === 'pass'),
      catalog,
      { profiles: ['rivermeadow-os'] },
    );

    // Assert
    expect(report.readiness).toMatchObject({
      decision: 'INCOMPLETE',
      line: 'INCOMPLETE: nothing required fails, but 2 required flows not verified live (2 not checkable) (6 pass, 0 fail, 6 not verified)',
      reasons: ['2 required flows not verified live (2 not checkable)'],
    });
    expect(report.readiness.notVerified.map((f) => [f.verdict, f.source])).toEqual([
      ['not-checkable', '10.20.0.5 (migration-appliance)'],
      ['not-checkable', '10.20.8.0/24 (admin-workstation)'],
    ]);
    expect(report.readiness.notVerified[0]!.next).toMatch(/preflight agent/);
    expect(verifiedOnly.readiness).toMatchObject({
      decision: 'GO',
      line: 'GO: every required flow was verified live and passes (6 pass, 0 fail)',
      reasons: [],
    });
    expect(report.totals).toEqual({ pass: 6, warn: 0, fail: 0, notVerified: 6, blocking: 2, total: 12 });
    expect(report.verdicts).toEqual({ pass: 6, 'not-checkable': 6 });
    expect(report.profiles.map((p) => [p.id, p.total])).toEqual([
      ['rivermeadow-os', 11],
      [CUSTOM_PROFILE, 1],
    ]);
    expect(report.vantages.map((v) => [v.vantage, v.pass, v.notVerified])).toEqual([
      ['workers', 6, 0],
      [OUTSIDE_VPC, 0, 6],
    ]);
    // Without an audit the evidence says so, and no subnet is claimed.
    const probed = report.flows.find((f) => f.verdict === 'pass')!;
    expect(probed.evidence.audit?.skipped).toMatch(/^no AWS inventory/);
    expect(probed.subnets).toEqual([]);
    expect(probed.evidence.checkedAt).toBe(run.startedAt);
  });

  it('says NO-GO with each failing flow first, its cause, its fix and the rules evaluated', async () => {
    // Arrange
    const run = waveRun();
    const findings = await waveFindings(run, { audit: true, states: FAILING_STATES });

    // Act
    const report = buildReport(run, findings, catalog, { profiles: ['rivermeadow-os'] });

    // Assert
    expect(report.readiness.decision).toBe('NO-GO');
    expect(report.readiness.reasons).toEqual([
      '4 required flows fail',
      '2 required flows not verified live (2 not checkable)',
    ]);
    expect(report.readiness.line).toBe(
      'NO-GO: 4 required flows fail; 2 required flows not verified live (2 not checkable) (2 pass, 4 fail, 6 not verified)',
    );
    expect(
      report.flows
        .slice(0, 4)
        .map((f) => f.verdict)
        .sort(),
    ).toEqual(['blocked-aws', 'blocked-aws', 'refused', 'timeout-aws-allows']);
    expect(report.flows.slice(0, 4).every((f) => f.class === 'fail' && f.blocking)).toBe(true);
    const custom = report.flows.find((f) => f.requirements.includes('custom:app-db'))!;
    expect(custom).toMatchObject({
      verdict: 'blocked-aws',
      profiles: [CUSTOM_PROFILE],
      vantages: ['workers'],
    });
    expect(custom.subnets).toEqual(['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
    // One fix serves both subnets of the vantage: it is listed once, for both.
    expect(custom.remediation).toHaveLength(1);
    expect(custom.remediation[0]).toMatchObject({
      vantage: 'workers',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      onPremFirewall: expect.stringContaining('10.20.0.40/32'),
    });
    expect(custom.remediation[0]!.awsCli.join('\n')).toContain('authorize-security-group-egress');
    expect(custom.remediation[0]!.cloudFormation.length).toBeGreaterThan(0);
    const rules = custom.evidence.audit!.ends[0]!.rules;
    expect(rules).toContain(
      'network ACL acl-0a1b2c3d4e5f60718 outbound the final deny (*) denies the request path',
    );
    expect(rules).toContain(
      'route table rtb-0a1b2c3d4e5f60718: 10.20.0.32/28 via pcx-0a1b2c3d4e5f60718 denies (blackhole)',
    );
    const onPrem = report.flows.find((f) => f.verdict === 'timeout-aws-allows')!;
    expect(onPrem.evidence.audit?.status).toBe('allowed');
    expect(onPrem.evidence.probe?.ports).toEqual({ filtered: '5994' });
    expect(onPrem.remediation).toEqual([]);
    expect(report.profiles.find((p) => p.id === 'rivermeadow-os')).toMatchObject({ fail: 3, blocking: 5 });
  });

  it('says INCOMPLETE when required flows were not probed and the run is partial, naming both', async () => {
    // Arrange
    const run = waveRun({ status: 'partial', reason: 'the probe of vantage workers failed: timeout' });
    const findings = await waveFindings(run, {
      audit: false,
      probeProblem: 'the probe of vantage workers failed',
    });

    // Act
    const report = buildReport(run, findings, catalog);

    // Assert
    expect(report.readiness.decision).toBe('INCOMPLETE');
    expect(report.readiness.reasons).toEqual([
      'the run is partial: the probe of vantage workers failed: timeout',
      '8 required flows not verified live (6 not probed, 2 not checkable)',
    ]);
    const skipped = report.flows.filter((f) => f.verdict === 'skipped');
    expect(skipped).toHaveLength(6);
    expect(skipped.every((f) => f.class === 'not-verified' && f.blocking)).toBe(true);
  });

  it('lets an optional failing flow and optional not-checkable flows through with a caveat', async () => {
    // Arrange
    const run = waveRun();
    const findings = (await waveFindings(run, { audit: false, states: { '10.20.0.5:8888': 'closed' } }))
      .filter((f) => f.verdict !== 'not-checkable' || f.optional)
      .map((f) => (f.verdict === 'refused' ? { ...f, optional: true } : f));

    // Act
    const report = buildReport(run, findings, catalog);

    // Assert
    expect(report.readiness.decision).toBe('GO');
    expect(report.readiness.line).toMatch(/; 1 optional flow failing$/);
    expect(report.flows[0]).toMatchObject({
      verdict: 'refused',
      class: 'fail',
      blocking: false,
      optional: true,
    });
  });

  it('is INCOMPLETE, never GO, for a run still running and for a run without findings', () => {
    // Act
    const running = buildReport(waveRun({ status: 'running', finishedAt: undefined }), [], catalog);
    // Assert
    expect(running.readiness.decision).toBe('INCOMPLETE');
    expect(running.readiness.reasons).toEqual([
      'the run is still running',
      'the run has no findings: nothing was verified',
    ]);
    expect(buildReport(waveRun(), [], catalog).readiness.decision).toBe('INCOMPLETE');
    expect(running.flows).toEqual([]);
  });

  it('counts a shared requirement under the profiles the environment uses, or under all of them', async () => {
    // Arrange
    const run = waveRun();
    const findings = await waveFindings(run, { audit: false });

    // Act
    const narrowed = buildReport(run, findings, catalog, { profiles: ['rivermeadow-os'] });
    const wide = buildReport(run, findings, catalog);

    // Assert: four requirements of the wave (two to the appliance, two to the SaaS) belong to both profiles.
    expect(narrowed.profiles.map((p) => p.id)).not.toContain('rivermeadow-vm');
    expect(wide.profiles.find((p) => p.id === 'rivermeadow-vm')).toMatchObject({
      pass: 2,
      notVerified: 2,
      total: 4,
    });
  });

  it("counts only the run's own profiles when the run records them (an inline environment is stored nowhere else)", async () => {
    // Arrange: the run of an inline environment with profile rivermeadow-os, as the service now records it.
    const run = waveRun({ profiles: ['rivermeadow-os'] });
    const findings = await waveFindings(run, { audit: false });

    // Act
    const report = buildReport(run, findings, catalog);

    // Assert: no row for a profile the environment does not use; the rows add up to the flows.
    expect(report.profiles.map((p) => p.id)).toEqual(['rivermeadow-os', CUSTOM_PROFILE]);
    expect(report.profiles.reduce((n, p) => n + p.total, 0)).toBe(report.totals.total);
  });

  it('keeps what it cannot classify visible: unknown verdicts block, unknown requirements get their own group', async () => {
    // Arrange
    const run = waveRun();
    const [first, ...rest] = await waveFindings(run, { audit: false });
    const odd: FindingRecord = {
      ...first!,
      verdict: 'quantum-tunnelled',
      requirements: ['gone-from-catalog'],
      detail: {},
    };

    // Act
    const report = buildReport(run, [odd, ...rest], catalog);

    // Assert
    const flow = report.flows.find((f) => f.verdict === 'quantum-tunnelled')!;
    expect(flow).toMatchObject({
      class: 'not-verified',
      blocking: true,
      profiles: [UNKNOWN_PROFILE],
      remediation: [],
    });
    expect(flow.evidence.probe).toBeUndefined();
    expect(report.readiness.reasons).toEqual([
      '2 required flows not verified live (1 not checkable, 1 quantum-tunnelled)',
    ]);
    expect(report.profiles.at(-1)).toMatchObject({ id: UNKNOWN_PROFILE, total: 1 });
  });

  it("describes what answered on the flow's ports when the finding carries identified services", async () => {
    // Arrange
    const run = waveRun();
    const [first, ...rest] = await waveFindings(run, { audit: false });
    const withServices = {
      ...first!,
      services: [
        { port: 443, service: { kind: 'http', status: 502, server: 'squid', warning: 'a proxy answered' } },
        { port: 8443, service: { kind: 'ssh', banner: 'SSH-2.0-OpenSSH_9.6' } },
      ],
    } as FindingRecord;

    // Act
    const report = buildReport(run, [withServices, ...rest], catalog);

    // Assert
    const flow = report.flows.find((f) => f.flowId === first!.flowId)!;
    expect(flow.evidence.services).toEqual(['443: a proxy answered', '8443: SSH "SSH-2.0-OpenSSH_9.6"']);
  });

  it('produces a model that its own schema accepts, and the same report twice for the same input', async () => {
    // Arrange
    const run = waveRun();
    const findings = await waveFindings(run, { audit: true, states: FAILING_STATES });

    // Act
    const a = buildReport(run, findings, catalog);
    const b = buildReport(run, [...findings].reverse(), catalog);

    // Assert
    expect(reportSchema.parse(JSON.parse(JSON.stringify(a)))).toEqual(a);
    expect(b).toEqual(a);
  });
});
