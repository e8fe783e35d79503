/**
 * The entry of `dist/preflight-agent.js`: `preflight agent` alone, bundled with everything it needs (the SigV4
 * signer and the AWS credential chain included), so that it runs with plain `node` on an on-premises machine
 * where nothing is installed: `node preflight-agent.js --api URL --vantage NAME`.
 */
import { InputError, UsageError } from '../cli/args';
import { agentCommand, agentHelp } from '../cli/commands/agent';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${agentHelp.replace(/preflight agent/g, 'node preflight-agent.js')}\n`);
    return 0;
  }
  try {
    return await agentCommand(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
      cwd: process.cwd(),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `preflight-agent: ${err.message}\nRun 'node preflight-agent.js --help' for usage.\n`,
      );
      return 2;
    }
    if (err instanceof InputError || (err instanceof Error && /Credential|ApiError/.test(err.name))) {
      process.stderr.write(`preflight-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `preflight-agent: internal error: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
