/**
 * Reports of a check run: {@link buildReport} makes the model, {@link renderReport} writes it in one format.
 */
import { renderCsv } from './csv';
import { renderHtml } from './html';
import { renderJunit } from './junit';
import { renderMarkdown } from './markdown';
import type { Report, ReportFormat } from './model';

export * from './model';

/** A rendered report: the document and the media type it is served as. */
export interface RenderedReport {
  readonly body: string;
  readonly contentType: string;
  /** The file name extension, without the dot. */
  readonly extension: string;
}

const RENDERERS: Record<
  ReportFormat,
  { render: (r: Report) => string; contentType: string; extension: string }
> = {
  md: { render: renderMarkdown, contentType: 'text/markdown; charset=utf-8', extension: 'md' },
  html: { render: renderHtml, contentType: 'text/html; charset=utf-8', extension: 'html' },
  junit: { render: renderJunit, contentType: 'application/xml; charset=utf-8', extension: 'xml' },
  csv: { render: renderCsv, contentType: 'text/csv; charset=utf-8; header=present', extension: 'csv' },
  json: {
    render: (r) => `${JSON.stringify(r, null, 2)}\n`,
    contentType: 'application/json',
    extension: 'json',
  },
};

/** Writes the report in `format`. */
export function renderReport(report: Report, format: ReportFormat): RenderedReport {
  const r = RENDERERS[format];
  return { body: r.render(report), contentType: r.contentType, extension: r.extension };
}
