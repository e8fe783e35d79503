import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { PreflightFunction } from './function';

/** Props of {@link Prober}. */
export interface ProberProps {
  /** The vantage's name, as environment files name it. */
  readonly vantage: string;
  readonly vpc: ec2.IVpc;
  /** The vantage's subnets: the prober's ENIs are placed there, so its packets take their routes and NACLs. */
  readonly subnets: ec2.ISubnet[];
  /** The vantage's Security Groups, attached unchanged (the prober adds no rule to them). */
  readonly securityGroups: ec2.ISecurityGroup[];
  /** The deployment's allowed target CIDRs, applied again by the prober before it connects. */
  readonly allowedTargetCidrs: readonly string[];
  /** One shard's probe budget; the function's timeout leaves a minute beyond it. */
  readonly budget: Duration;
  /** @default 30 */
  readonly logRetentionDays?: number;
}

/**
 * One vantage's prober: a Lambda in that vantage's subnets with its Security Groups, invoked once per shard. It
 * makes no AWS API call (it returns its shard's results to the state machine, whose next step stores them), so its
 * role holds only its logs, tracing and the VPC attachment, and it works in isolated subnets with no NAT and no
 * endpoints.
 *
 * Sizing: a shard holds at most 500 host:port pairs (`MAX_SHARD_PAIRS`) and keeps at most the environment's
 * `probe.concurrency` sockets open (512 by default and at most: half of a Lambda's 1,024 file descriptors, the
 * rest left to the runtime, DNS and logs). 512 MB gives the CPU share that many connects and the identification
 * of open ports (TLS handshakes) need; the results of 500 ports are tens of KB of memory.
 */
export class Prober extends Construct {
  readonly function: PreflightFunction;
  readonly vantage: string;
  readonly subnets: readonly ec2.ISubnet[];
  readonly securityGroups: readonly ec2.ISecurityGroup[];

  constructor(scope: Construct, id: string, props: ProberProps) {
    super(scope, id);
    this.vantage = props.vantage;
    this.subnets = props.subnets;
    this.securityGroups = props.securityGroups;
    this.function = new PreflightFunction(this, 'Prober', {
      function: 'probe',
      description: `probes the flows of vantage ${props.vantage} from its subnets`,
      // Sockets and timers, little CPU: 512 MB gives the network share a few hundred concurrent connects need.
      // The timeout is the shard's budget plus a minute (cold start, DNS, identification past the deadline).
      memorySize: 512,
      timeout: props.budget.plus(Duration.minutes(1)),
      environment: { ALLOWED_TARGET_CIDRS: JSON.stringify(props.allowedTargetCidrs) },
      vpc: { vpc: props.vpc, subnets: props.subnets, securityGroups: props.securityGroups },
      ...(props.logRetentionDays !== undefined ? { logRetentionDays: props.logRetentionDays } : {}),
    });
  }
}
