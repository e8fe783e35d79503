/**
 * The report's change set section, once per report: the AWS CLI script, the questions to answer first, the
 * on-premises firewall requests as a table, one CloudFormation template and one CDK snippet.
 */
import { htmlText as h, mdCode, mdText } from './escape';
import type { Report } from './model';

export const CHANGE_SET_TITLE = 'Change set';
const INTRO =
  'Every fix of this run merged into one set: apply it as a whole (the fixes shown per flow are each for that flow alone, and their network ACL rule numbers may collide).';
const EMPTY = 'Nothing to change: no fix was found for this run.';
const FIREWALL_HEADER = ['Protocol', 'From', 'To', 'Ports'];

const isEmpty = (cs: Report['changeSet']) =>
  cs.awsCli.length === 0 && cs.questions.length === 0 && cs.firewallRequests.length === 0;

/** The section in Markdown. */
export function changeSetMarkdown(cs: Report['changeSet']): string {
  const out = [`## ${CHANGE_SET_TITLE}`];
  if (isEmpty(cs)) return [...out, EMPTY].join('\n\n');
  out.push(mdText(INTRO));
  if (cs.awsCli.length > 0) out.push('### AWS CLI', mdCode(cs.awsCli.join('\n'), 'sh'));
  if (cs.questions.length > 0)
    out.push('### To answer first', cs.questions.map((q) => `- ${mdText(q.text)}`).join('\n'));
  if (cs.firewallRequests.length > 0) {
    const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
    out.push(
      '### On-premises firewall requests',
      [
        row(FIREWALL_HEADER),
        row(FIREWALL_HEADER.map(() => '---')),
        ...cs.firewallRequests.map((r) =>
          row([
            r.protocol,
            mdText(r.sources.join(', ') || 'the vantage subnets'),
            mdText(r.destinations.join(', ')),
            mdText(r.ports),
          ]),
        ),
      ].join('\n'),
    );
  }
  if (cs.cloudFormation !== '') out.push('### CloudFormation', mdCode(cs.cloudFormation.trimEnd(), 'yaml'));
  if (cs.cdk !== '') out.push('### CDK', mdCode(cs.cdk, 'ts'));
  return out.join('\n\n');
}

/** The section in HTML. */
export function changeSetHtml(cs: Report['changeSet']): string {
  const out = [`<h2 id="change-set">${CHANGE_SET_TITLE}</h2>`];
  if (isEmpty(cs)) return [...out, `<p>${h(EMPTY)}</p>`].join('\n');
  out.push(`<p>${h(INTRO)}</p>`);
  if (cs.awsCli.length > 0)
    out.push('<h3>AWS CLI</h3>', `<pre><code>${h(cs.awsCli.join('\n'))}</code></pre>`);
  if (cs.questions.length > 0)
    out.push(
      '<h3>To answer first</h3>',
      `<ul>${cs.questions.map((q) => `<li>${h(q.text)}</li>`).join('')}</ul>`,
    );
  if (cs.firewallRequests.length > 0)
    out.push(
      '<h3>On-premises firewall requests</h3>',
      `<table><thead><tr>${FIREWALL_HEADER.map((x) => `<th>${x}</th>`).join('')}</tr></thead><tbody>${cs.firewallRequests
        .map(
          (r) =>
            `<tr><td>${h(r.protocol)}</td><td>${h(r.sources.join(', ') || 'the vantage subnets')}</td>` +
            `<td>${h(r.destinations.join(', '))}</td><td>${h(r.ports)}</td></tr>`,
        )
        .join('')}</tbody></table>`,
    );
  if (cs.cloudFormation !== '')
    out.push('<h3>CloudFormation</h3>', `<pre><code>${h(cs.cloudFormation.trimEnd())}</code></pre>`);
  if (cs.cdk !== '') out.push('<h3>CDK</h3>', `<pre><code>${h(cs.cdk)}</code></pre>`);
  return out.join('\n');
}
