import { exampleConfig, synthStack } from './support';

// One managed policy per on-prem vantage of the deployment config, reaching only that vantage's agent routes.

describe('agent policies', () => {
  const config = exampleConfig();
  const { template } = synthStack(config);
  const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
    String(p.Properties?.Description ?? '').startsWith('preflight agent of on-prem vantage'),
  );

  it('outputs one managed policy per on-prem vantage, scoped to /agents/<vantage>/* with execute-api:Invoke only', () => {
    // Assert
    expect(config.onPremVantages.length).toBeGreaterThan(0);
    expect(policies).toHaveLength(config.onPremVantages.length);
    for (const vantage of config.onPremVantages) {
      const policy = policies.find((p) =>
        p.Properties.Description.endsWith(` ${vantage}: its agent routes only`),
      );
      expect(policy).toBeDefined();
      const statements = policy!.Properties.PolicyDocument.Statement as Array<{
        Action: string;
        Effect: string;
        Resource: { 'Fn::Join': [string, unknown[]] };
      }>;
      expect(statements).toHaveLength(1);
      expect(statements[0]!.Action).toBe('execute-api:Invoke');
      expect(statements[0]!.Effect).toBe('Allow');
      const resource = JSON.stringify(statements[0]!.Resource);
      expect(resource).toContain(`/*/*/agents/${vantage}/*`);
      for (const other of config.onPremVantages.filter((v) => v !== vantage))
        expect(resource).not.toContain(`/agents/${other}/`);
    }
    const outputs = template.findOutputs('*');
    expect(
      Object.keys(outputs)
        .filter((k) => k.startsWith('AgentPolicy'))
        .sort(),
    ).toEqual([
      'AgentPolicyAdmins',
      'AgentPolicyDc1',
      'AgentPolicyPioAppliance',
      'AgentPolicyPremEsxiManager',
      'AgentPolicyPremManager',
    ]);
  });

  it('has no agent policy without on-prem vantages (the demo)', () => {
    // Act
    const demo = synthStack().template.findResources('AWS::IAM::ManagedPolicy');
    // Assert
    expect(
      Object.values(demo).filter((p) =>
        String(p.Properties?.Description ?? '').startsWith('preflight agent'),
      ),
    ).toEqual([]);
  });
});
