import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { exampleConfig, synthStack } from './support';

/** Every acknowledgment recorded in the construct tree, with where it was made. */
function acknowledgments(
  root: import('constructs').IConstruct,
): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      // The data maps `Annotation::<rule id>` to the reason; CDK's own acknowledgments sit beside cdk-nag's.
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([key]) => key.includes('AwsSolutions-'))
      .map(([key, reason]) => ({ path: c.node.path, id: key.replace(/^Annotation::/, ''), reason })),
  );
}

describe.each([
  ['the demo', () => synthStack()],
  ['the example config', () => synthStack(exampleConfig())],
])('cdk-nag AwsSolutions over %s', (_name, build) => {
  const { app, stack } = build();

  it('has no unacknowledged finding', () => {
    // Act
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    // Assert: each finding by rule and resource, so a failure says what to fix.
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.locations.join(', ') || r.resourceLogicalId}`),
    );
    expect(findings).toEqual([]);
  });

  it('gives every acknowledgment a specific reason', () => {
    // Act
    const acks = acknowledgments(stack);
    // Assert
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(a.reason.length).toBeGreaterThan(40);
    }
    // No blanket IAM acknowledgment: IAM4/IAM5 are acknowledged finding by finding.
    expect(acks.filter((a) => /^AwsSolutions-IAM[45]$/.test(a.id))).toEqual([]);
  });
});
