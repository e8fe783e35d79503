import { App } from 'aws-cdk-lib';
import { DeployConfigError, loadDeployConfig, CONTEXT_OVERRIDES } from '../lib/config';
import { PreflightStack } from '../lib/preflight-stack';

// Nothing is looked up at synth (no credentials needed): the VPC comes from the config's ids, the demo builds
// its own, and without an account/region in the config the stack stays environment-agnostic.
const app = new App();
const path = app.node.tryGetContext('config') as unknown;
const overrides = Object.fromEntries(CONTEXT_OVERRIDES.map((k) => [k, app.node.tryGetContext(k) as unknown]));

try {
  if (path !== undefined && typeof path !== 'string') {
    throw new DeployConfigError(`-c config: expected a file name, got ${JSON.stringify(path)}`);
  }
  const config = path !== undefined ? loadDeployConfig(path, overrides) : undefined;
  new PreflightStack(
    app,
    config?.stackName ?? (typeof overrides.stackName === 'string' ? overrides.stackName : 'Preflight'),
    {
      description: 'preflight: pre-flight port checks for migrations into AWS',
      ...(config ? { config } : {}),
    },
  );
  app.synth();
} catch (err) {
  if (err instanceof DeployConfigError) {
    console.error(`preflight: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
