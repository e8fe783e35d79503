/* global document, window, location, navigator, setTimeout, clearTimeout, CSS, FormData -- a browser module */
// The preflight dashboard: environments, their runs, the latest run's matrix of flows, a run's findings with
// causes and remediations, and a flow's history. Plain DOM (see dom.js: no data is ever parsed as markup),
// hash routes so that every view has a link and the back button works:
//   #/                                   environments
//   #/environments/NAME                  an environment: run a check now, its runs, the latest run
//   #/checks/ID                          one run
//   #/environments/NAME/flows/FLOW_ID    one flow across runs
import { api, ApiError } from './api.js';
import { historyChart } from './chart.js';
import { duration, h, replace, time } from './dom.js';
import {
  answeredText,
  decisionInfo,
  knownVerdicts,
  loadVerdicts,
  OPEN_STATUSES,
  verdictInfo,
  verdictRank,
} from './verdicts.js';

const main = document.getElementById('main');
const nav = document.getElementById('env-nav');
const statusRegion = document.getElementById('status');
const enc = encodeURIComponent;

/** How often an open run is polled, in ms. */
const POLL_MS = 600;
/** How long to wait before asking again after a failed request while following a run, in ms. */
const RETRY_MS = 3000;

const href = {
  home: () => '#/',
  environment: (name) => `#/environments/${enc(name)}`,
  run: (checkId) => `#/checks/${enc(checkId)}`,
  flow: (name, flowId) => `#/environments/${enc(name)}/flows/${enc(flowId)}`,
};

// ---------------------------------------------------------------------------------------------------------
// Views come and go: a poll of a view that is no longer shown must not touch the page.

let viewToken = 0;
let pollTimer;

function newView() {
  viewToken += 1;
  clearTimeout(pollTimer);
  return viewToken;
}

function poll(token, fn, ms = POLL_MS) {
  if (token !== viewToken) return;
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => {
    if (token === viewToken) void fn();
  }, ms);
}

function announce(text) {
  statusRegion.textContent = text;
}

function errorBox(err) {
  const message = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Error: '), message);
}

/** Shows a new view: its heading gets the focus so that keyboard and screen-reader users start there. */
function show(...children) {
  replace(main, ...children);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Small pieces

function verdictBadge(verdict, count) {
  const info = verdictInfo(verdict);
  return h(
    'span',
    { class: `badge tone-${info.tone}`, 'data-verdict': verdict, title: info.next || info.label },
    h('span', { class: 'sym', 'aria-hidden': 'true' }, info.symbol),
    count === undefined ? info.label : `${count} ${info.label}`,
  );
}

// A run's status is its state (did it run to the end?), not whether the wave is ready: one neutral tone, so
// that a finished run never looks like a success. Readiness has its own badge.
const STATUS_SYMBOL = { queued: '…', running: '↻', succeeded: '■', partial: '◧', failed: '□' };

function statusBadge(status) {
  return h(
    'span',
    { class: 'badge status tone-neutral', 'data-status': status },
    h('span', { class: 'sym', 'aria-hidden': 'true' }, STATUS_SYMBOL[status] ?? '?'),
    status,
  );
}

/** GO / NO-GO / INCOMPLETE, as the service computed it. */
function readinessBadge(readiness) {
  const decision = readiness?.decision ?? '?';
  const show = decisionInfo(decision);
  return h(
    'span',
    { class: `badge readiness tone-${show.tone}`, 'data-readiness': decision, title: readiness?.line ?? '' },
    h('span', { class: 'sym', 'aria-hidden': 'true' }, show.symbol),
    decision,
  );
}

/** The readiness banner at the top of a run: the decision, its line, and the required flows to look at. */
function readinessBanner(readiness) {
  if (!readiness) return null;
  const show = decisionInfo(readiness.decision);
  const flowLine = (f) =>
    `${f.source ?? '?'} → ${f.destination ?? '?'} ${f.protocol ?? ''}/${f.ports ?? ''} (${verdictInfo(f.verdict).label})`;
  return h(
    'div',
    {
      class: `readiness-banner tone-${show.tone}`,
      role: 'status',
      'data-readiness': readiness.decision,
    },
    h('p', { class: 'decision' }, readinessBadge(readiness), ' ', readiness.line),
    readiness.failing.length > 0 &&
      h(
        'div',
        { class: 'failing' },
        h('h3', {}, `Required flows that fail (${readiness.failing.length})`),
        h(
          'ul',
          {},
          readiness.failing.map((f) => h('li', {}, flowLine(f), ': ', f.next)),
        ),
      ),
    readiness.notVerified.length > 0 &&
      h(
        'div',
        { class: 'not-verified' },
        h('h3', {}, `Required flows not verified live (${readiness.notVerified.length}): how to verify each`),
        h(
          'ul',
          {},
          readiness.notVerified.map((f) =>
            h('li', { 'data-flow-id': f.flowId ?? '' }, flowLine(f), ': ', f.next),
          ),
        ),
      ),
  );
}

function countBadges(counts) {
  const entries = Object.entries(counts ?? {}).sort((a, b) => verdictRank(a[0]) - verdictRank(b[0]));
  if (entries.length === 0) return h('span', { class: 'muted' }, 'no findings yet');
  return h(
    'span',
    { class: 'badges' },
    entries.map(([verdict, count]) => verdictBadge(verdict, count)),
  );
}

function legend(verdicts) {
  const list = knownVerdicts().filter((v) => verdicts.has(v));
  for (const v of verdicts) if (!list.includes(v)) list.push(v);
  return h(
    'p',
    { class: 'legend' },
    h('span', { class: 'muted' }, 'Legend: '),
    list.map((v) => verdictBadge(v)),
  );
}

function codeBlock(label, text) {
  const code = h('code', {}, text);
  const copy = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${label}` }, 'Copy');
  copy.addEventListener('click', () => {
    navigator.clipboard?.writeText(text).then(
      () => announce(`${label} copied`),
      () => announce(`cannot copy: select the text instead`),
    );
  });
  return h(
    'div',
    { class: 'code' },
    h('div', { class: 'code-head' }, h('span', {}, label), copy),
    h('pre', {}, code),
  );
}

const flowTitle = (f) => `${f.source} → ${f.destination}`;
const portsLabel = (f) => `${f.protocol} ${f.ports}`;
const firstPort = (ports) => Number(String(ports).split(/[,-]/)[0]) || 0;

// ---------------------------------------------------------------------------------------------------------
// A run: summary, matrix, findings

function remediationBlock(entries) {
  return h(
    'section',
    { class: 'remediation' },
    h('h4', {}, 'Remediation'),
    entries.map((r) =>
      h(
        'div',
        { class: 'fix' },
        h('p', { class: 'fix-where' }, `Vantage ${r.vantage}${r.subnetId ? ` (${r.subnetId})` : ''}`),
        r.securityGroup &&
          h(
            'div',
            {},
            h('p', {}, `Security Group ${r.securityGroup.groupId}: add ${r.securityGroup.direction} rules`),
            codeBlock('AWS CLI', (r.securityGroup.awsCli ?? []).join('\n')),
            h(
              'details',
              { class: 'more' },
              h('summary', {}, 'CloudFormation and CDK'),
              codeBlock('CloudFormation', r.securityGroup.cloudFormation ?? ''),
              codeBlock('CDK', r.securityGroup.cdk ?? ''),
            ),
          ),
        r.networkAcl &&
          h(
            'div',
            {},
            h('p', {}, `Network ACL ${r.networkAcl.networkAclId}: add entries`),
            r.networkAcl.warning && h('p', { class: 'warning' }, r.networkAcl.warning),
            codeBlock('AWS CLI (network ACL)', (r.networkAcl.awsCli ?? []).join('\n')),
            h(
              'details',
              { class: 'more' },
              h('summary', {}, 'CloudFormation'),
              codeBlock('CloudFormation (network ACL)', r.networkAcl.cloudFormation ?? ''),
            ),
          ),
        r.routes &&
          h(
            'div',
            {},
            h(
              'p',
              {},
              `Routes${r.routes.routeTableId ? ` in ${r.routes.routeTableId}` : ''}: ${r.routes.note}`,
            ),
            codeBlock('AWS CLI (routes)', (r.routes.awsCli ?? []).join('\n')),
          ),
        r.onPremFirewall && codeBlock('On-premises firewall request', r.onPremFirewall),
      ),
    ),
  );
}

function findingDetails(finding, envName) {
  const info = verdictInfo(finding.verdict);
  const detail = finding.detail && typeof finding.detail === 'object' ? finding.detail : {};
  const probePorts = detail.probe?.ports ?? {};
  const auditStatus =
    detail.audit?.status ?? (detail.audit?.skipped ? `not audited: ${detail.audit.skipped}` : undefined);
  const rows = [
    ['Cause', finding.cause],
    ['Next step', info.next],
    ['Direction', finding.direction],
    ['How checked', detail.why],
    [
      'Probe',
      Object.entries(probePorts)
        .map(([state, ports]) => `${state}: ${ports}`)
        .join('; '),
    ],
    ['What answered', answeredText(finding)],
    ['AWS audit', auditStatus],
    ['Requirements', (finding.requirements ?? []).join(', ')],
  ].filter(([, value]) => value);
  const el = h(
    'details',
    { class: `finding tone-${info.tone}`, id: `finding-${finding.flowId}`, 'data-flow-id': finding.flowId },
    h(
      'summary',
      {},
      verdictBadge(finding.verdict),
      h('span', { class: 'flow-title' }, flowTitle(finding)),
      h('span', { class: 'ports' }, portsLabel(finding)),
      finding.optional && h('span', { class: 'tag' }, 'optional'),
    ),
    h(
      'div',
      { class: 'finding-body' },
      h(
        'dl',
        {},
        rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
      ),
      Array.isArray(detail.remediation) &&
        detail.remediation.length > 0 &&
        remediationBlock(detail.remediation),
      h(
        'p',
        {},
        h('a', { href: href.flow(envName, finding.flowId) }, 'History of this flow'),
        ` (${finding.flowId})`,
      ),
    ),
  );
  return el;
}

function openFinding(container, flowId) {
  const el = container.querySelector(`details[data-flow-id="${CSS.escape(flowId)}"]`);
  if (!el) return;
  el.open = true;
  el.scrollIntoView({ block: 'start' });
  el.querySelector('summary')?.focus();
}

function matrix(findings, onOpen) {
  const rows = [...new Set(findings.map(flowTitle))].sort();
  const columns = [...new Set(findings.map(portsLabel))].sort((a, b) => {
    const [pa, pb] = [firstPort(a.split(' ')[1]), firstPort(b.split(' ')[1])];
    return pa - pb || a.localeCompare(b);
  });
  const cell = new Map();
  for (const f of findings) {
    const key = `${flowTitle(f)}\u0000${portsLabel(f)}`;
    const earlier = cell.get(key);
    if (!earlier || verdictRank(f.verdict) < verdictRank(earlier.verdict)) cell.set(key, f);
  }
  return h(
    'div',
    {
      class: 'matrix-wrap',
      tabindex: '0',
      role: 'region',
      'aria-label': 'Matrix of flows (scrolls sideways)',
    },
    h(
      'table',
      { class: 'matrix' },
      h('caption', { class: 'visually-hidden' }, 'Flows by source → destination (rows) and port (columns)'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'From → to'),
          columns.map((c) => h('th', { scope: 'col', class: 'port-col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((row) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, row),
            columns.map((col) => {
              const f = cell.get(`${row}\u0000${col}`);
              if (!f) return h('td', { class: 'empty' });
              const info = verdictInfo(f.verdict);
              return h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: `cell tone-${info.tone}`,
                    'data-flow-id': f.flowId,
                    'data-verdict': f.verdict,
                    title: `${info.label}: ${f.cause}`,
                    'aria-label': `${row}, ${col}: ${info.label}`,
                    onclick: () => onOpen(f.flowId),
                  },
                  info.symbol,
                ),
              );
            }),
          ),
        ),
      ),
    ),
  );
}

/** A run's summary, matrix and findings (worst first). */
/**
 * The run's change set (every fix of its flows merged, in the order to apply it), read from its JSON report once
 * the run is closed: what a platform team applies in one go. The flows still show their own fixes.
 */
function changeSetBox(run) {
  const box = h('div', { class: 'change-set' });
  if (OPEN_STATUSES.includes(run.status)) return box;
  api.report(run.checkId).then(
    (report) => {
      const cs = report.changeSet;
      const n = (list) => list?.length ?? 0;
      if (!cs || n(cs.operations) + n(cs.firewallRequests) + n(cs.questions) === 0) return;
      const parts = [
        `${n(cs.operations)} change(s) in AWS`,
        n(cs.firewallRequests) > 0 ? `${n(cs.firewallRequests)} on-premises firewall request(s)` : '',
        n(cs.questions) > 0 ? `${n(cs.questions)} question(s) to answer first` : '',
      ].filter(Boolean);
      replace(
        box,
        h(
          'details',
          {},
          h('summary', {}, h('strong', {}, 'Change set'), `: ${parts.join(', ')}`),
          n(cs.questions) > 0
            ? [
                h('h4', {}, 'Questions to answer first'),
                h(
                  'ul',
                  {},
                  cs.questions.map((q) => h('li', {}, q.text)),
                ),
              ]
            : null,
          n(cs.awsCli) > 0 ? codeBlock('AWS CLI, in this order', cs.awsCli.join('\n')) : null,
          cs.cloudFormation ? codeBlock('CloudFormation', cs.cloudFormation) : null,
          cs.cdk ? codeBlock('CDK', cs.cdk) : null,
          n(cs.firewallRequests) > 0
            ? [
                h('h4', {}, 'On-premises firewall requests'),
                h(
                  'ul',
                  {},
                  cs.firewallRequests.map((r) => h('li', {}, r.text)),
                ),
              ]
            : null,
        ),
      );
    },
    () => {
      // The change set is a convenience here: each failing flow shows its own fix below.
    },
  );
  return box;
}

function runSection(run, envName) {
  const findings = [...run.findings].sort(
    (a, b) => verdictRank(a.verdict) - verdictRank(b.verdict) || flowTitle(a).localeCompare(flowTitle(b)),
  );
  const list = h('div', { class: 'findings' });
  const onlyProblems = h('input', { type: 'checkbox', id: `only-problems-${run.checkId}` });
  const renderList = () => {
    const shown = onlyProblems.checked
      ? findings.filter((f) => ['bad', 'warn'].includes(verdictInfo(f.verdict).tone))
      : findings;
    replace(
      list,
      shown.length === 0
        ? h('p', { class: 'muted' }, findings.length === 0 ? 'No findings (yet).' : 'No problems.')
        : shown.map((f) => findingDetails(f, envName)),
    );
  };
  onlyProblems.addEventListener('change', renderList);
  renderList();
  const open = (flowId) => {
    if (onlyProblems.checked && !list.querySelector(`details[data-flow-id="${CSS.escape(flowId)}"]`)) {
      onlyProblems.checked = false;
      renderList();
    }
    openFinding(list, flowId);
  };
  const byId = new Map(run.findings.map((f) => [f.flowId, f]));
  const changes = run.changes ?? [];
  const took = duration(run.startedAt, run.finishedAt);
  return h(
    'section',
    { class: 'run', 'data-check-id': run.checkId, 'data-status': run.status },
    readinessBanner(run.readiness),
    h(
      'dl',
      { class: 'run-meta' },
      h('dt', {}, 'Check'),
      h('dd', {}, h('a', { href: href.run(run.checkId) }, run.checkId)),
      h('dt', {}, 'Status'),
      h('dd', {}, statusBadge(run.status), run.reason ? ` ${run.reason}` : ''),
      h('dt', {}, 'Readiness'),
      h('dd', {}, readinessBadge(run.readiness)),
      h('dt', {}, 'Started'),
      h('dd', {}, time(run.createdAt), ` by ${run.trigger}`, took ? `, took ${took}` : ''),
      h('dt', {}, 'Verdicts'),
      h('dd', {}, `${run.flowCount} flow(s): `, countBadges(run.counts)),
      h('dt', {}, 'Report'),
      h(
        'dd',
        {},
        h('a', { href: api.reportUrl(run.checkId, 'html') }, 'HTML'),
        ' · ',
        h('a', { href: api.reportUrl(run.checkId, 'md') }, 'Markdown'),
      ),
    ),
    changes.length > 0 &&
      h(
        'div',
        { class: 'changes' },
        h('h3', {}, `Changed since the previous run (${changes.length})`),
        h(
          'ul',
          {},
          changes.map((c) => {
            const f = byId.get(c.flowId);
            return h(
              'li',
              {},
              h(
                'a',
                { href: href.flow(envName, c.flowId) },
                f ? `${flowTitle(f)} ${portsLabel(f)}` : c.flowId,
              ),
              ': ',
              c.from ? verdictBadge(c.from) : h('span', { class: 'muted' }, 'new'),
              ' → ',
              c.to ? verdictBadge(c.to) : h('span', { class: 'muted' }, 'gone'),
            );
          }),
        ),
      ),
    changeSetBox(run),
    findings.length > 0 && [
      h('h3', {}, 'Matrix'),
      h('p', { class: 'muted' }, 'Source → destination by port; select a cell to open its finding.'),
      legend(new Set(findings.map((f) => f.verdict))),
      matrix(findings, open),
    ],
    h('h3', {}, 'Findings'),
    findings.length > 0 &&
      h('p', { class: 'filter' }, onlyProblems, h('label', { for: onlyProblems.id }, ' Only problems')),
    list,
  );
}

// ---------------------------------------------------------------------------------------------------------
// The environments

async function refreshNav(current) {
  let envs;
  try {
    envs = await api.environments();
  } catch {
    return undefined;
  }
  replace(
    nav,
    envs.length === 0
      ? h('li', { class: 'muted' }, 'none stored yet')
      : envs.map((e) =>
          h(
            'li',
            {},
            h(
              'a',
              { href: href.environment(e.name), 'aria-current': e.name === current ? 'page' : false },
              e.name,
            ),
          ),
        ),
  );
  return envs;
}

function environmentFacts(env) {
  const vantages = (env.vantages ?? []).map((v) => `${v.name} (${(v.roles ?? []).join(', ')})`).join('; ');
  const endpoints = Object.keys(env.endpoints ?? {}).join(', ');
  return h(
    'dl',
    { class: 'facts' },
    env.description && [h('dt', {}, 'About'), h('dd', {}, env.description)],
    h('dt', {}, 'Profiles'),
    h('dd', {}, (env.profiles ?? []).join(', ') || '—'),
    h('dt', {}, 'Vantages'),
    h('dd', {}, vantages || '—'),
    endpoints && [h('dt', {}, 'Endpoints'), h('dd', {}, endpoints)],
    (env.flows ?? []).length > 0 && [
      h('dt', {}, 'Own flows'),
      h('dd', {}, env.flows.map((f) => f.name).join(', ')),
    ],
    env.schedule && [h('dt', {}, 'Schedule'), h('dd', {}, env.schedule)],
  );
}

async function homeView(token) {
  const envs = await refreshNav();
  if (token !== viewToken) return;
  if (envs === undefined) {
    show(
      h('h1', {}, 'Environments'),
      errorBox(new Error('cannot list the environments: is the API running?')),
    );
    return;
  }
  const cards = envs.map((e) => {
    const latest = h('p', { class: 'latest muted' }, 'latest run: …');
    void api.runs(e.name, 1).then(
      (page) => {
        const run = page.items[0];
        replace(
          latest,
          run
            ? [
                'latest run: ',
                readinessBadge(run.readiness),
                ' ',
                statusBadge(run.status),
                ' ',
                time(run.createdAt),
                ' ',
                countBadges(run.counts),
              ]
            : 'no runs yet',
        );
      },
      () => replace(latest, 'latest run: cannot be read'),
    );
    return h(
      'li',
      { class: 'card' },
      h('h2', {}, h('a', { href: href.environment(e.name) }, e.name)),
      environmentFacts(e.environment),
      latest,
    );
  });
  show(
    h('h1', {}, 'Environments'),
    envs.length === 0
      ? h(
          'div',
          { class: 'empty-state' },
          h('p', {}, 'No environment is stored yet. Store one with the API, for example:'),
          h(
            'pre',
            {},
            h(
              'code',
              {},
              'npx yaml --json --single < examples/localhost.yaml |\n' +
                `  curl -X PUT -H 'content-type: application/json' --data-binary @- ${location.origin}/environments/local-demo`,
            ),
          ),
          h('p', {}, 'Runs of an environment that is not stored (check --api) open by name on the left.'),
        )
      : h('ul', { class: 'cards' }, cards),
  );
}

async function environmentView(token, name) {
  void refreshNav(name);
  let record;
  try {
    record = await api.environment(name);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  if (token !== viewToken) return;

  const button = h('button', { type: 'button', class: 'primary', id: 'run-now' }, 'Run check now');
  const actionNote = h('span', { class: 'action-note', 'aria-live': 'polite' });
  const actionError = h('div', {});
  const runsBox = h('div', { class: 'runs' }, h('p', { class: 'muted' }, 'Loading runs…'));
  const latestBox = h('div', { class: 'latest-run' });
  if (!record) {
    button.disabled = true;
    actionNote.textContent =
      'This environment is not stored, so it cannot be run from here (its runs are shown).';
  }
  show(
    h('p', { class: 'crumbs' }, h('a', { href: href.home() }, 'Environments'), ' / ', name),
    h('h1', {}, 'Environment ', h('span', { class: 'name' }, name)),
    record && environmentFacts(record.environment),
    h('div', { class: 'actions' }, button, actionNote),
    actionError,
    h('h2', {}, 'Runs'),
    runsBox,
    h('h2', {}, 'Latest run'),
    latestBox,
  );

  let shownLatest = '';
  let started;
  let startedAt = 0;
  const refresh = async () => {
    let runs;
    try {
      runs = (await api.runs(name)).items;
    } catch (err) {
      // Shown, and tried again a little later: a service restarting must not end the following.
      if (token === viewToken) replace(runsBox, errorBox(err));
      poll(token, refresh, RETRY_MS);
      return;
    }
    if (token !== viewToken) return;
    replace(runsBox, runsTable(runs));
    // A listing may lag behind a run just started (a deployed store's index): keep asking for a while.
    const lagging =
      started !== undefined && !runs.some((r) => r.checkId === started) && Date.now() - startedAt < 30_000;
    const open = lagging || runs.some((r) => OPEN_STATUSES.includes(r.status));
    if (record) {
      button.disabled = open;
      button.textContent = open ? 'Checking…' : 'Run check now';
      button.setAttribute('aria-busy', String(open));
    }
    const latest = runs[0];
    if (!latest) {
      replace(latestBox, h('p', { class: 'muted' }, 'No runs yet: run a check.'));
    } else if (`${latest.checkId}:${latest.status}` !== shownLatest) {
      let run;
      try {
        run = await api.run(latest.checkId);
      } catch (err) {
        if (token === viewToken) replace(latestBox, errorBox(err));
        poll(token, refresh, RETRY_MS);
        return;
      }
      if (token !== viewToken) return;
      shownLatest = `${latest.checkId}:${latest.status}`;
      replace(latestBox, runSection(run, name));
      if (started === latest.checkId) {
        announce(`check ${latest.checkId}: ${latest.status}`);
        if (!OPEN_STATUSES.includes(latest.status))
          actionNote.textContent = `Check ${latest.checkId} ${latest.status}.`;
      }
    }
    if (open) poll(token, refresh);
  };

  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(actionError);
    try {
      const reply = await api.startCheck(name);
      started = reply.checkId;
      startedAt = Date.now();
      actionNote.textContent = `Check ${reply.checkId} ${reply.status}…`;
      announce(`check ${reply.checkId} ${reply.status}`);
    } catch (err) {
      replace(actionError, errorBox(err));
      button.disabled = false;
      return;
    }
    await refresh();
  });

  await refresh();
}

function runsTable(runs) {
  if (runs.length === 0) return h('p', { class: 'muted' }, 'No runs yet.');
  return h(
    'table',
    { class: 'list' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Check', 'Created', 'Trigger', 'Status', 'Readiness', 'Verdicts'].map((t) =>
          h('th', { scope: 'col' }, t),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      runs.map((r) =>
        h(
          'tr',
          { 'data-check-id': r.checkId, 'data-status': r.status },
          h('td', {}, h('a', { href: href.run(r.checkId), class: 'mono' }, r.checkId)),
          h('td', {}, time(r.createdAt)),
          h('td', {}, r.trigger),
          h('td', {}, statusBadge(r.status)),
          h('td', {}, readinessBadge(r.readiness)),
          h('td', {}, countBadges(r.counts)),
        ),
      ),
    ),
  );
}

async function runView(token, checkId) {
  const run = await api.run(checkId);
  if (token !== viewToken) return;
  void refreshNav(run.environmentName);
  const box = h('div', {}, runSection(run, run.environmentName));
  show(
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: href.home() }, 'Environments'),
      ' / ',
      h('a', { href: href.environment(run.environmentName) }, run.environmentName),
      ' / check',
    ),
    h('h1', {}, 'Check ', h('span', { class: 'mono' }, run.checkId)),
    box,
  );
  if (!OPEN_STATUSES.includes(run.status)) return;
  const problem = h('div', {});
  box.before(problem);
  const follow = async () => {
    let next;
    try {
      next = await api.run(checkId);
    } catch (err) {
      if (token === viewToken) replace(problem, errorBox(err));
      poll(token, follow, RETRY_MS);
      return;
    }
    if (token !== viewToken) return;
    replace(problem);
    const openIds = [...box.querySelectorAll('details.finding[open]')].map((d) => d.dataset.flowId);
    replace(box, runSection(next, next.environmentName));
    for (const id of openIds) {
      const d = box.querySelector(`details[data-flow-id="${CSS.escape(id)}"]`);
      if (d) d.open = true;
    }
    if (OPEN_STATUSES.includes(next.status)) poll(token, follow);
    else announce(`check ${checkId}: ${next.status}`);
  };
  poll(token, follow);
}

async function flowView(token, name, flowId) {
  void refreshNav(name);
  const items = await api.flowHistory(name, flowId);
  if (token !== viewToken) return;
  const latest = items[0];
  show(
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: href.home() }, 'Environments'),
      ' / ',
      h('a', { href: href.environment(name) }, name),
      ' / flow',
    ),
    h(
      'h1',
      {},
      'Flow ',
      latest ? `${flowTitle(latest)} ${portsLabel(latest)}` : h('span', { class: 'mono' }, flowId),
    ),
    latest &&
      h(
        'p',
        { class: 'muted' },
        `${flowId} · ${latest.direction} · requirements: ${(latest.requirements ?? []).join(', ') || '—'}`,
      ),
    items.length === 0
      ? h('p', {}, 'No run of this environment has checked this flow.')
      : [
          h('h2', {}, 'Verdict over time'),
          h(
            'figure',
            { class: 'chart-box' },
            historyChart(items, href.run),
            h('figcaption', { class: 'muted' }, 'Each point is a run; select one to open it.'),
          ),
          h('h2', {}, 'Runs'),
          h(
            'table',
            { class: 'list history' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Run', 'Created', 'Verdict', 'Cause'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              {},
              items.map((f) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: href.run(f.checkId), class: 'mono' }, f.checkId)),
                  h('td', {}, time(f.createdAt)),
                  h('td', {}, verdictBadge(f.verdict)),
                  h('td', { class: 'cause' }, f.cause),
                ),
              ),
            ),
          ),
        ],
  );
}

// ---------------------------------------------------------------------------------------------------------
// Routing

function route() {
  const token = newView();
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  let view;
  if (parts.length === 0) view = homeView(token);
  else if (parts[0] === 'environments' && parts.length === 2) view = environmentView(token, parts[1]);
  else if (parts[0] === 'environments' && parts.length === 4 && parts[2] === 'flows')
    view = flowView(token, parts[1], parts[3]);
  else if (parts[0] === 'checks' && parts.length === 2) view = runView(token, parts[1]);
  else view = Promise.reject(new Error(`no such page: ${location.hash}`));
  view.catch((err) => {
    if (token !== viewToken) return;
    show(
      h('h1', {}, 'Something went wrong'),
      errorBox(err),
      h('p', {}, h('a', { href: href.home() }, 'Back to the environments')),
    );
  });
}

document.getElementById('open-env').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = new FormData(event.currentTarget).get('name')?.toString().trim();
  if (name) location.hash = href.environment(name);
});
window.addEventListener('hashchange', route);
// The verdict table comes from the API before the first view; without it verdicts still show (as unknown).
loadVerdicts(api.verdicts)
  .catch((err) => announce(`could not load the verdict table: ${err.message}`))
  .finally(route);
