import { CfnOutput, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface AgentPoliciesProps {
  /** The API whose agent routes the policies open. */
  readonly api: apigw.RestApi;
  /** The on-prem vantages of the deployment config, one policy each. */
  readonly vantages: readonly string[];
}

/**
 * One managed policy per on-prem vantage: `execute-api:Invoke` on that vantage's agent routes only
 * (`/agents/<vantage>/*`, every stage and method), so the machine running `preflight agent --vantage <vantage>`
 * can reach nothing else of the API, and no other vantage's jobs. Each policy's ARN is a stack output, to attach
 * to that machine's role (an IAM Roles Anywhere profile's role, outside AWS).
 */
export class AgentPolicies extends Construct {
  /** The policy of each vantage, by name. */
  readonly policies: ReadonlyMap<string, iam.ManagedPolicy>;

  constructor(scope: Construct, id: string, props: AgentPoliciesProps) {
    super(scope, id);
    const policies = new Map<string, iam.ManagedPolicy>();
    // cdk-nag names each finding by the policy's resource as it renders it (tokens as <…>).
    const stack = Stack.of(this);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const apiId = stack.resolve((props.api.node.defaultChild as apigw.CfnRestApi).logicalId) as string;
    for (const vantage of props.vantages) {
      const policy = new iam.ManagedPolicy(this, `Vantage-${vantage}`, {
        description: `preflight agent of on-prem vantage ${vantage}: its agent routes only`,
        statements: [
          new iam.PolicyStatement({
            actions: ['execute-api:Invoke'],
            resources: [props.api.arnForExecuteApi('*', `/agents/${vantage}/*`, '*')],
          }),
        ],
      });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${region}:${account}:<${apiId}>/*/*/agents/${vantage}/*]`,
        reason: `the wildcards are the stage, the method and the job id under /agents/${vantage}/: the policy reaches only that vantage's agent routes`,
      });
      new CfnOutput(
        Stack.of(this),
        `AgentPolicy${vantage.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase())}`,
        {
          value: policy.managedPolicyArn,
          description: `attach to the role of the machine running preflight agent --vantage ${vantage}`,
        },
      );
      policies.set(vantage, policy);
    }
    this.policies = policies;
  }
}
