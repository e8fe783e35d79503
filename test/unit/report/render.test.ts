import { buildReport, renderReport, type Report } from '../../../lambdas/core/report';
import { CSV_COLUMNS } from '../../../lambdas/core/report/csv';
import { csvField, mdCode, mdText, xmlAttr } from '../../../lambdas/core/report/escape';
import { catalog, NASTY, waveFindings, waveRun } from './fixtures';
import { findAll, parseXml } from './xml';

/** A NO-GO report whose first failing flow has a cause and a destination full of markup and separators. */
async function nastyReport(): Promise<Report> {
  const run = waveRun();
  const findings = await waveFindings(run, {
    audit: true,
    states: { '10.20.0.5:8888': 'closed', '10.20.0.15:5994': 'filtered' },
  });
  const nasty = findings.map((f) =>
    f.verdict === 'refused' ? { ...f, cause: `${NASTY}\u0001`, destination: `db<1>&"x", 'y'` } : f,
  );
  return buildReport(run, nasty, catalog, { profiles: ['rivermeadow-os'] });
}

/** A GO report: every required flow verified live (the flows outside the VPC are made optional). */
async function goReport(): Promise<Report> {
  const run = waveRun();
  const findings = (await waveFindings(run, { audit: false })).map((f) =>
    f.verdict === 'not-checkable' ? { ...f, optional: true } : f,
  );
  return buildReport(run, findings, catalog);
}

/** RFC 4180 reader: rows of fields, quoted fields may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else if (c === '"' || c === '\n' || c === '\r') {
      throw new Error(`unquoted ${JSON.stringify(c)} at ${i}`);
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error('the last line does not end with CRLF');
  return rows;
}

describe('escaping', () => {
  it('escapes each format by its own rules', () => {
    // Act & Assert
    expect(xmlAttr('a<b & "c"\n\'d\'\u0002')).toBe('a&lt;b &amp; &quot;c&quot;&#10;&apos;d&apos;\uFFFD');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,"b"\r\nc')).toBe('"a,""b""\r\nc"');
    expect(csvField('SSH-2.0-x\u001b[1A\u001b[2K\u009b2J\u0000\u001b]0;t\u0007 ok\rover')).toBe(
      'SSH-2.0-x[1A[2K2J]0;t okover',
    );
    expect(mdText('a|b *c* <d> [e](f)\nnext')).toBe('a\\|b \\*c\\* \\<d\\> \\[e\\](f) next');
    expect(mdCode('x ``` y')).toBe('````\nx ``` y\n````');
  });
});

describe('JUnit', () => {
  it('is well-formed XML with one testcase per flow, failures for failing required flows, skips for the rest', async () => {
    // Arrange
    const report = await nastyReport();

    // Act
    const xml = renderReport(report, 'junit');
    const root = parseXml(xml.body);

    // Assert
    expect(xml.contentType).toBe('application/xml; charset=utf-8');
    expect(root.name).toBe('testsuites');
    const [flows, readiness] = findAll(root, 'testsuite');
    expect(findAll(flows!, 'testcase')).toHaveLength(report.flows.length);
    expect(findAll(flows!, 'failure')).toHaveLength(2);
    expect(findAll(flows!, 'skipped')).toHaveLength(6);
    expect(flows!.attributes).toMatchObject({ tests: '12', failures: '2', skipped: '6', errors: '0' });
    expect(root.attributes).toMatchObject({ tests: '13', failures: '3', skipped: '6' });
    // The go/no-go testcase fails with the go/no-go line.
    const gate = findAll(readiness!, 'testcase');
    expect(gate.map((t) => t.attributes.name)).toEqual(['go/no-go']);
    expect(findAll(readiness!, 'failure')[0]!.attributes.message).toBe(report.readiness.line);
    // The nasty cause survives escaping: only the forbidden control character is replaced.
    const refused = findAll(flows!, 'failure').find((f) => f.attributes.type === 'refused')!;
    expect(refused.attributes.message).toBe(`refused: ${NASTY}\uFFFD`);
    expect(
      refused.text.startsWith(
        `refused: ${NASTY}\uFFFD\nflow ${report.flows.find((f) => f.verdict === 'refused')!.flowId} `,
      ),
    ).toBe(true);
    expect(xml.body).not.toContain('<script>');
  });

  it('has no failure at all for a GO report, so "no failures" gates exactly like GO', async () => {
    // Act
    const root = parseXml(renderReport(await goReport(), 'junit').body);
    // Assert
    expect(findAll(root, 'failure')).toHaveLength(0);
    expect(findAll(root, 'testcase')).toHaveLength(13);
    expect(root.attributes.failures).toBe('0');
  });

  it('fails only the readiness testcase, as INCOMPLETE, when flows were not probed', async () => {
    // Arrange
    const run = waveRun({ status: 'partial', reason: 'probe failed' });
    const report = buildReport(run, await waveFindings(run, { audit: false, probeProblem: 'x' }), catalog);
    // Act
    const root = parseXml(renderReport(report, 'junit').body);
    // Assert
    const failures = findAll(root, 'failure');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.attributes.type).toBe('INCOMPLETE');
    expect(findAll(root, 'skipped')).toHaveLength(12);
  });
});

describe('HTML', () => {
  it('is one self-contained page: inline CSS with print rules, no script, no external resource, escaped', async () => {
    // Arrange
    const report = await nastyReport();

    // Act
    const html = renderReport(report, 'html');

    // Assert
    expect(html.contentType).toBe('text/html; charset=utf-8');
    expect(html.body).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html.body).not.toMatch(/<script/i);
    expect(html.body).not.toMatch(/\s(?:src|href)\s*=/i);
    expect(html.body).not.toMatch(/<(?:link|img|iframe|object|embed)\b/i);
    expect(html.body).not.toMatch(/url\(|@import/i);
    expect(html.body).toContain('@media print');
    expect(html.body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(html.body).toContain('db&lt;1&gt;&amp;&quot;x&quot;, &#39;y&#39;');
    expect(html.body).toContain(`<p class="decision no-go">${report.readiness.line}</p>`);
    expect(html.body.match(/<section class="flow fail">/g)).toHaveLength(2);
    // Every element opened in the body is closed (a rough balance check of the hand-written markup).
    for (const tag of ['table', 'tr', 'section', 'ul', 'pre', 'p', 'h2', 'h3']) {
      const opened = html.body.match(new RegExp(`<${tag}[\\s>]`, 'g'))?.length ?? 0;
      expect([tag, opened]).toEqual([tag, html.body.match(new RegExp(`</${tag}>`, 'g'))?.length ?? 0]);
    }
  });
});

describe('Markdown', () => {
  it('has the go/no-go line, the summaries and each failing flow with its fix, escaped', async () => {
    // Arrange
    const report = await nastyReport();

    // Act
    const md = renderReport(report, 'md');

    // Assert
    expect(md.contentType).toBe('text/markdown; charset=utf-8');
    expect(md.body.split('\n').slice(0, 3)).toEqual([
      '# Readiness report: wave-1',
      '',
      `**NO-GO: 2 required flows fail; 2 required flows not verified live (2 not checkable) (4 pass, 2 fail, 6 not verified)**`,
    ]);
    expect(md.body).toContain('| RiverMeadow OS-based migration (rivermeadow-os) | 3 | 0 | 2 | 6 | 4 | 11 |');
    expect(md.body).toContain('## Failing flows (2)');
    expect(md.body).not.toContain('<script>');
    expect(md.body).toContain('\\<script\\>');
    // A table row keeps its columns: every unescaped pipe is a cell border.
    const rows = md.body.split('\n').filter((l) => l.startsWith('| refused |'));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.match(/(?<!\\)\|/g)).toHaveLength(11);
  });
});

describe('CSV', () => {
  it('has a stable header and one RFC 4180 row per flow; fields read back exactly', async () => {
    // Arrange
    const report = await nastyReport();

    // Act
    const csv = renderReport(report, 'csv');
    const rows = parseCsv(csv.body);

    // Assert
    expect(csv.contentType).toBe('text/csv; charset=utf-8; header=present');
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows[0]!.slice(0, 4)).toEqual(['check_id', 'environment', 'flow_id', 'verdict']);
    expect(rows).toHaveLength(report.flows.length + 1);
    expect(rows.every((r) => r.length === CSV_COLUMNS.length)).toBe(true);
    const refused = rows.find((r) => r[3] === 'refused')!;
    // The control character is gone (issue 11 item 4); line breaks and everything else read back exactly.
    expect(refused[CSV_COLUMNS.indexOf('cause')]).toBe(NASTY);
    expect(refused[CSV_COLUMNS.indexOf('destination')]).toBe(`db<1>&"x", 'y'`);
    expect(rows.slice(1).map((r) => r[2])).toEqual(report.flows.map((f) => f.flowId));
  });
});

describe('JSON', () => {
  it('is the report model itself', async () => {
    // Arrange
    const report = await goReport();
    // Act
    const json = renderReport(report, 'json');
    // Assert
    expect(json.contentType).toBe('application/json');
    expect(JSON.parse(json.body)).toEqual(report);
  });
});
