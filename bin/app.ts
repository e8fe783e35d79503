import { App } from 'aws-cdk-lib';
import { PreflightStack } from '../lib/preflight-stack';

// Environment-agnostic on purpose: synthesis must work offline, with no credentials and no lookups.
const app = new App();
new PreflightStack(app, 'Preflight', {
  description: 'preflight: pre-flight port checks for migrations into AWS',
});
app.synth();
