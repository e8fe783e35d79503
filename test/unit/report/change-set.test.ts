/**
 * The change set in reports: computed from the run's stored findings (their remediation detail), carried in the
 * report's JSON as `changeSet.awsCli`, and shown once in Markdown and HTML.
 */
import { buildReport, renderReport, reportSchema } from '../../../lambdas/core/report';
import type { FindingRecord } from '../../../lambdas/core/store';
import { catalog, waveFindings, waveRun } from './fixtures';

const FAILING_STATES = {
  '10.20.0.16:5994': 'filtered', // the Security Group lacks the rule
  '10.20.0.40:1433': 'filtered', // SG, NACL and the blackhole route
} as const;

const WAVE_CHANGE_SET = [
  expect.stringMatching(
    /^aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 --ip-permissions '\[.*"FromPort":5022,"ToPort":5023.*"FromPort":5994,"ToPort":5994.*\]'$/,
  ),
  'aws ec2 create-network-acl-entry --network-acl-id acl-0a1b2c3d4e5f60718 --rule-number 140 --protocol 6 --rule-action allow --egress --cidr-block 10.20.0.40/32 --port-range From=5022,To=5023',
  'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
];

async function storedWave(): Promise<FindingRecord[]> {
  const findings = await waveFindings(waveRun(), { audit: true, states: FAILING_STATES });
  // As the store gives them back: plain JSON.
  return JSON.parse(JSON.stringify(findings)) as FindingRecord[];
}

describe('the change set in reports', () => {
  it('is computed from the stored findings: each fix once, for both subnets', async () => {
    // Arrange
    const findings = await storedWave();

    // Act
    const report = buildReport(waveRun(), findings, catalog, { profiles: ['rivermeadow-os'] });

    // Assert
    expect(report.changeSet.awsCli).toEqual(WAVE_CHANGE_SET);
    expect(report.changeSet.questions).toEqual([]);
    expect(report.changeSet.firewallRequests.map((r) => r.text)).toContain(
      'permit tcp from 10.0.1.0/24,10.0.2.0/24 to 10.20.0.16/32 port 5994 (and the replies)',
    );
    // The JSON format carries it, and the schema the CLI validates with accepts it.
    const json = JSON.parse(renderReport(report, 'json').body);
    expect(json.changeSet.awsCli).toEqual(WAVE_CHANGE_SET);
    expect(reportSchema.parse(json).changeSet.awsCli).toHaveLength(3);
  });

  it('is shown once in Markdown and in HTML, each command once in its script', async () => {
    // Arrange
    const report = buildReport(waveRun(), await storedWave(), catalog, { profiles: ['rivermeadow-os'] });

    // Act
    const md = renderReport(report, 'md').body;
    const html = renderReport(report, 'html').body;

    // Assert
    expect(md.match(/^## Change set$/gm)).toHaveLength(1);
    const section = md.slice(md.indexOf('## Change set'), md.indexOf('## All flows'));
    const script = section.slice(
      section.indexOf('### AWS CLI'),
      section.indexOf('###', section.indexOf('### AWS CLI') + 1),
    );
    for (const command of report.changeSet.awsCli) expect(script.split(command)).toHaveLength(2);
    expect(section).toContain('### CloudFormation');
    expect(section).toContain('### CDK');
    expect(section).toContain('| tcp | 10.0.1.0/24, 10.0.2.0/24 | 10.20.0.16/32 | 5994 |');
    expect(html.match(/<h2 id="change-set">/g)).toHaveLength(1);
    expect(html).toContain('replace-route --route-table-id rtb-0a1b2c3d4e5f60718');
  });

  it('says there is nothing to change when no flow needs a fix', async () => {
    // Arrange
    const findings = await waveFindings(waveRun(), { audit: false });

    // Act
    const report = buildReport(waveRun(), findings, catalog);

    // Assert
    expect(report.changeSet.awsCli).toEqual([]);
    expect(renderReport(report, 'md').body).toContain('## Change set\n\nNothing to change');
  });
});
