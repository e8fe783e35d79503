import { exitCodeOf, readiness, runReadiness } from '../../../lambdas/core/finding/readiness';
import { compareListed, ruleOf, VERDICT_TABLE, verdictSchema } from '../../../lambdas/core/finding/verdicts';

const f = (verdict: string, optional = false) => ({ verdict, optional });

describe('the verdict table', () => {
  it('has one row per verdict of the enum, and only pass and warn let a run be GO', () => {
    // Assert
    expect(VERDICT_TABLE.map((r) => r.verdict).sort()).toEqual([...verdictSchema.options].sort());
    for (const r of VERDICT_TABLE) {
      expect(r.blocksGo).toBe(r.class === 'fail' || r.class === 'not-verified');
      expect(r.symbol).toHaveLength(1);
      if (r.class !== 'pass') expect(r.next).not.toBe('');
    }
    expect(new Set(VERDICT_TABLE.map((r) => r.symbol)).size).toBe(VERDICT_TABLE.length);
  });

  it('treats a verdict it does not know (or an Object key) as not verified, shown as itself', () => {
    // Assert
    expect(ruleOf('toString')).toMatchObject({ class: 'not-verified', blocksGo: true, label: 'toString' });
    expect(ruleOf('quantum')).toMatchObject({ symbol: '?' });
  });

  it('lists what keeps a run from GO first: required failing, required not verified, then the rest', () => {
    // Arrange
    const row = (verdict: string, optional: boolean, flowId: string) => ({
      verdict,
      optional,
      flowId,
      source: 's',
      destination: 'd',
      ports: '1',
    });
    const list = [
      row('pass', false, 'f-1'),
      row('refused', true, 'f-2'),
      row('not-checkable', false, 'f-3'),
      row('warn', false, 'f-4'),
      row('blocked-aws', false, 'f-5'),
    ];
    // Act
    const sorted = [...list].sort(compareListed).map((x) => x.flowId);
    // Assert
    expect(sorted).toEqual(['f-5', 'f-3', 'f-2', 'f-4', 'f-1']);
  });
});

describe('readiness', () => {
  const ok = { status: 'succeeded' };

  it('is GO only when the run succeeded, has findings and every required flow passes or warns', () => {
    // Act + Assert
    expect(readiness(ok, [f('pass'), f('warn'), f('refused', true)]).decision).toBe('GO');
    expect(readiness(ok, [f('pass'), f('warn'), f('refused', true)]).line).toBe(
      'GO: every required flow was verified live and passes (1 pass, 1 warn, 1 fail); 1 warning to review, 1 optional flow failing',
    );
    expect(readiness(ok, []).decision).toBe('INCOMPLETE');
    expect(readiness({ status: 'partial', reason: 'x' }, [f('pass')]).decision).toBe('INCOMPLETE');
    expect(readiness({ status: 'running' }, [f('pass')]).decision).toBe('INCOMPLETE');
    expect(readiness({ status: 'failed' }, []).reasons).toEqual([
      'the run is failed',
      'the run has no findings: nothing was verified',
    ]);
  });

  it('is NO-GO when a required flow fails, whatever else is true', () => {
    // Act
    const r = readiness({ status: 'partial', reason: 'probe failed' }, [
      { ...f('refused'), flowId: 'f-1', source: 'vantage a', destination: 'h', protocol: 'tcp', ports: '22' },
      f('not-checkable'),
    ]);
    // Assert
    expect(r.decision).toBe('NO-GO');
    expect(r.failing).toEqual([
      {
        verdict: 'refused',
        flowId: 'f-1',
        source: 'vantage a',
        destination: 'h',
        protocol: 'tcp',
        ports: '22',
        next: ruleOf('refused').next,
      },
    ]);
    expect(r.notVerified).toHaveLength(1);
  });

  it('is INCOMPLETE when nothing required fails but required flows were not verified, each with how to verify it', () => {
    // Act
    const r = readiness(ok, [
      f('pass'),
      { ...f('audited-only'), cause: 'AWS allows it' },
      f('skipped', true),
    ]);
    // Assert
    expect(r.decision).toBe('INCOMPLETE');
    expect(r.notVerified).toEqual([
      { verdict: 'audited-only', why: 'AWS allows it', next: ruleOf('audited-only').next },
    ]);
    expect(r.line).toBe(
      'INCOMPLETE: nothing required fails, but 1 required flow not verified live (1 audited only) (1 pass, 0 fail, 2 not verified)',
    );
  });

  it('answers the same from a run record as from its findings, and conservatively for older records', () => {
    // Arrange
    const findings = [f('pass'), f('pass'), f('refused', true), f('not-checkable', true)];
    const counts = { pass: 2, refused: 1, 'not-checkable': 1 };
    // Act + Assert
    expect(runReadiness({ status: 'succeeded', counts, requiredCounts: { pass: 2 } }).decision).toBe(
      readiness(ok, findings).decision,
    );
    expect(runReadiness({ status: 'succeeded', counts, requiredCounts: { pass: 2 } }).decision).toBe('GO');
    // Without required counts every flow is taken as required: never more optimistic than the findings.
    expect(runReadiness({ status: 'succeeded', counts }).decision).toBe('NO-GO');
  });

  it('exits 0 only for GO, or for INCOMPLETE when the user accepts it', () => {
    // Assert
    expect(exitCodeOf('GO')).toBe(0);
    expect(exitCodeOf('INCOMPLETE')).toBe(1);
    expect(exitCodeOf('INCOMPLETE', { acceptIncomplete: true })).toBe(0);
    expect(exitCodeOf('NO-GO', { acceptIncomplete: true })).toBe(1);
  });
});
