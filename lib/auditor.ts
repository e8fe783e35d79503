import * as iam from 'aws-cdk-lib/aws-iam';
import { Duration, Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { EC2_INVENTORY_ACTIONS } from '../lambdas/aws/ec2-inventory';
import { PreflightFunction } from './function';

/** Props of {@link Auditor}. */
export interface AuditorProps {
  /** @default 30 */
  readonly logRetentionDays?: number;
}

/**
 * The auditor: a Lambda outside the VPC that reads Security Groups, network interfaces, network ACLs, route
 * tables and prefix lists. Its role allows exactly the EC2 read calls the inventory reader makes
 * (`EC2_INVENTORY_ACTIONS`), nothing else.
 */
export class Auditor extends Construct {
  readonly function: PreflightFunction;

  constructor(scope: Construct, id: string, props: AuditorProps = {}) {
    super(scope, id);
    this.function = new PreflightFunction(this, 'Auditor', {
      function: 'audit',
      description: "audits the vantages' Security Groups, network ACLs and routes",
      memorySize: 512,
      timeout: Duration.minutes(2),
      ...(props.logRetentionDays !== undefined ? { logRetentionDays: props.logRetentionDays } : {}),
    });
    this.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadNetworkConfiguration',
        // EC2's Describe* calls support no resource-level permissions: '*' is the only resource they take.
        actions: [...EC2_INVENTORY_ACTIONS],
        resources: ['*'],
      }),
    );
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `the auditor's EC2 reads (${EC2_INVENTORY_ACTIONS.join(', ')}) support no resource-level permissions; X-Ray's calls accept only '*' too`,
    });
  }
}
