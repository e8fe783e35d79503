import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { join } from 'node:path';
import { type DeployConfig, loadDeployConfig } from '../../lib/config';
import { PreflightStack } from '../../lib/preflight-stack';

/** The realistic deployment config users copy. */
export const EXAMPLE_CONFIG = join(__dirname, '..', '..', 'examples', 'deploy.yaml');

/** An app that skips bundling (the bundle test builds each function) and CloudFormation validation. */
export function testApp(): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [], 'cli-telemetry': false } });
}

/** The stack of the demo (no config) or of a config, with its template. */
export function synthStack(config?: DeployConfig): { app: App; stack: PreflightStack; template: Template } {
  const app = testApp();
  const stack = new PreflightStack(app, 'Preflight', config ? { config } : {});
  return { app, stack, template: Template.fromStack(stack) };
}

export const exampleConfig = (): DeployConfig => loadDeployConfig(EXAMPLE_CONFIG);
