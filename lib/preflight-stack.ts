import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { AgentPolicies } from './agent-policies';
import { Alarms } from './alarms';
import { PreflightApi } from './api';
import { Auditor } from './auditor';
import type { DeployConfig } from './config';
import { CheckRunStateMachine } from './orchestration';
import { Notifications } from './notifications';
import { Prober } from './prober';
import { RunCloser } from './run-closer';
import { CheckSchedules } from './schedules';
import { ResultsTable } from './store';

/** Props of {@link PreflightStack}. */
export interface PreflightStackProps extends StackProps {
  /**
   * The deployment: the target VPC, the vantages, the allowed target CIDRs, schedules, notifications, retention.
   * @default - a self-contained demo: a VPC of its own with isolated subnets and one vantage `demo`
   */
  readonly config?: DeployConfig;
}

/** The demo's settings: private ranges as targets, no schedule, no subscription. */
const DEMO_DEFAULTS = {
  allowedTargetCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
  retentionDays: 90,
  logRetentionDays: 30,
  probeBudgetSeconds: 240,
  maxConcurrentShards: 40,
  api: { rateLimit: 10, burstLimit: 20 },
  retainData: true,
} as const;

/**
 * The preflight service: one construct per concern (DESIGN.md). The results store; a prober per vantage in the
 * vantage's subnets and Security Groups; the auditor; the check-run state machine; the HTTPS API; a schedule per
 * scheduled environment; the event bus, rule and topic of notifications; alarms.
 */
export class PreflightStack extends Stack {
  readonly results: ResultsTable;
  readonly probers: Prober[];
  readonly auditor: Auditor;
  readonly orchestration: CheckRunStateMachine;
  readonly api: PreflightApi;
  readonly schedules: CheckSchedules;
  readonly runCloser: RunCloser;
  readonly notifications: Notifications;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: PreflightStackProps = {}) {
    const config = props.config;
    // The config's account and region, unless the caller chose an environment; neither: environment-agnostic.
    const env =
      props.env ??
      (config?.account || config?.region
        ? {
            ...(config.account ? { account: config.account } : {}),
            ...(config.region ? { region: config.region } : {}),
          }
        : undefined);
    super(scope, id, { ...props, ...(env ? { env } : {}) });
    const settings = config ?? DEMO_DEFAULTS;

    // The VPC and the vantages: the config's (nothing looked up at synth), or the demo's own.
    let vpc: ec2.IVpc;
    let vantages: Array<{ name: string; subnets: ec2.ISubnet[]; securityGroups: ec2.ISecurityGroup[] }>;
    if (config) {
      vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: config.vpc.vpcId,
        availabilityZones: config.vpc.availabilityZones,
      });
      vantages = config.vantages.map((v) => ({
        name: v.name,
        subnets: v.subnetIds.map((s) => {
          const subnet = ec2.Subnet.fromSubnetId(this, `Subnet-${v.name}-${s}`, s);
          // Nothing here reads the subnet's route table: the auditor reads routes live, at check time.
          Annotations.of(subnet).acknowledgeWarning(
            '@aws-cdk/aws-ec2:noSubnetRouteTableId',
            'the stack never reads route tables; the auditor reads them from EC2 at check time',
          );
          return subnet;
        }),
        securityGroups: v.securityGroupIds.map((g) =>
          ec2.SecurityGroup.fromSecurityGroupId(this, `Group-${v.name}-${g}`, g, { mutable: false }),
        ),
      }));
    } else {
      const demo = new ec2.Vpc(this, 'DemoVpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [
          { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        ],
      });
      demo.addFlowLog('FlowLog', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(
          new logs.LogGroup(this, 'DemoFlowLogs', {
            retention: logs.RetentionDays.ONE_MONTH,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
        ),
      });
      const group = new ec2.SecurityGroup(this, 'DemoVantageGroup', {
        vpc: demo,
        description: 'preflight demo vantage: outbound only, as migration workers usually are',
        allowAllOutbound: true,
      });
      vpc = demo;
      vantages = [{ name: 'demo', subnets: demo.isolatedSubnets, securityGroups: [group] }];
      new CfnOutput(this, 'DemoVantageSubnets', {
        value: demo.isolatedSubnets.map((s) => s.subnetId).join(','),
        description: 'subnetIds of the demo vantage (use them in an environment file)',
      });
      new CfnOutput(this, 'DemoVantageSecurityGroup', {
        value: group.securityGroupId,
        description: 'securityGroupIds of the demo vantage',
      });
    }

    const budget = Duration.seconds(settings.probeBudgetSeconds);
    const logRetentionDays = settings.logRetentionDays;
    this.results = new ResultsTable(this, 'Results', {
      removalPolicy: settings.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      deletionProtection: settings.retainData,
    });
    this.notifications = new Notifications(
      this,
      'Notifications',
      config?.notificationEmail ? { email: config.notificationEmail } : {},
    );
    this.probers = vantages.map(
      (v) =>
        new Prober(this, `Prober-${v.name}`, {
          vantage: v.name,
          vpc,
          subnets: v.subnets,
          securityGroups: v.securityGroups,
          allowedTargetCidrs: settings.allowedTargetCidrs,
          budget,
          logRetentionDays,
        }),
    );
    this.auditor = new Auditor(this, 'Auditor', { logRetentionDays });
    this.orchestration = new CheckRunStateMachine(this, 'CheckRun', {
      table: this.results.table,
      eventBus: this.notifications.bus,
      probers: this.probers,
      auditor: this.auditor,
      probeBudget: budget,
      allowedTargetCidrs: settings.allowedTargetCidrs,
      maxConcurrentShards: settings.maxConcurrentShards,
      retentionDays: settings.retentionDays,
      logRetentionDays,
    });
    this.api = new PreflightApi(this, 'Api', {
      table: this.results.table,
      stateMachine: this.orchestration.stateMachine,
      allowedTargetCidrs: settings.allowedTargetCidrs,
      retentionDays: settings.retentionDays,
      rateLimit: settings.api.rateLimit,
      burstLimit: settings.api.burstLimit,
      logRetentionDays,
    });
    this.schedules = new CheckSchedules(this, 'Schedules', {
      stateMachine: this.orchestration.stateMachine,
      schedules: config?.schedules ?? [],
    });
    this.schedules.bindApi(this.api.function);
    this.runCloser = new RunCloser(this, 'RunCloser', {
      stateMachine: this.orchestration.stateMachine,
      fail: this.orchestration.functions.fail,
      topic: this.notifications.topic,
    });
    this.alarms = new Alarms(this, 'Alarms', {
      topic: this.notifications.topic,
      stateMachine: this.orchestration.stateMachine,
      functions: {
        Api: this.api.function,
        Start: this.orchestration.functions.start,
        Shard: this.orchestration.functions.shard,
        Finish: this.orchestration.functions.finish,
        Fail: this.orchestration.functions.fail,
        Auditor: this.auditor.function,
        ...Object.fromEntries(this.probers.map((p) => [`Prober-${p.vantage}`, p.function])),
      },
    });

    // One managed policy per on-prem vantage, scoped to its agent routes (outputs AgentPolicy<Vantage>).
    new AgentPolicies(this, 'AgentPolicies', { api: this.api.api, vantages: config?.onPremVantages ?? [] });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description: 'the HTTPS API (IAM auth): preflight check --api URL, preflight history --api URL',
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.orchestration.stateMachine.stateMachineArn });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.notifications.topic.topicArn });
  }
}
