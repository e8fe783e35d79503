/**
 * What every preflight Lambda does around its work, in one place: Powertools Logger context (request id, cold
 * start), a cold-start metric and the handler's metrics flushed after each invocation (EMF through the log),
 * and, where the handler carries the Tracer, a subsegment with the cold-start and service annotations. The
 * prober passes no tracer: Powertools Tracer would triple its bundle, and the function's active X-Ray tracing
 * still puts it in the run's trace.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';

/** The CloudWatch namespace of preflight's metrics (the alarms in lib/ read it). */
export const METRICS_NAMESPACE = 'Preflight';
/** The Powertools service name of every handler. */
export const SERVICE_NAME = 'preflight';

export interface Instruments {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** @default - no Powertools Tracer (the function's active tracing still records it) */
  readonly tracer?: Tracer;
}

/**
 * Wraps a handler with the {@link Instruments}. Errors are logged with the event's shape (never its body) and
 * rethrown, so that Lambda and Step Functions see the failure.
 */
export function instrument<E, R>(
  name: string,
  tools: Instruments,
  fn: (event: E, context: Context) => Promise<R>,
): (event: E, context: Context) => Promise<R> {
  const { logger, metrics, tracer } = tools;
  return async (event, context) => {
    logger.addContext(context);
    metrics.captureColdStartMetric();
    const segment = tracer?.getSegment();
    const subsegment = segment?.addNewSubsegment(`## ${name}`);
    if (tracer && subsegment) {
      tracer.setSegment(subsegment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
    }
    try {
      return await fn(event, context);
    } catch (err) {
      logger.error(`${name} failed`, err as Error);
      if (tracer && subsegment) tracer.addErrorAsMetadata(err as Error);
      throw err;
    } finally {
      if (tracer && segment && subsegment) {
        subsegment.close();
        tracer.setSegment(segment);
      }
      metrics.publishStoredMetrics();
    }
  };
}
