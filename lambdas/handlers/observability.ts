/**
 * The Powertools instruments of the handlers that talk to AWS (everything but the prober): one Logger, one
 * Metrics namespace and one Tracer per process. Service name and log level come from the standard
 * `POWERTOOLS_*` variables the CDK app sets.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { type Instruments, METRICS_NAMESPACE, SERVICE_NAME } from './instrument';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
export const tracer = new Tracer({ serviceName: SERVICE_NAME });
export const instruments: Instruments = { logger, metrics, tracer };
