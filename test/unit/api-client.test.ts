import { signedHeaders } from '../../lambdas/cli/api-client';

describe('requests to a deployed API', () => {
  it('are signed with SigV4 for execute-api in the region of the URL, from the credential chain', async () => {
    // Arrange: credentials from the environment, the first link of the chain (no network is used).
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    try {
      const url = new URL(
        'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/checks?environment=wave-1',
      );
      // Act
      const headers = await signedHeaders(url, 'POST', { 'content-type': 'application/json' }, '{"a":1}', {});
      // Assert
      expect(headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
      );
      expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(headers.host).toBe('abc123.execute-api.eu-west-1.amazonaws.com');
    } finally {
      process.env = saved;
    }
  });

  it('need a region when the URL does not name one', async () => {
    await expect(
      signedHeaders(new URL('https://preflight.example.com/checks'), 'GET', {}, undefined, {}),
    ).rejects.toThrow('--api https://preflight.example.com: cannot tell the AWS region: set AWS_REGION');
  });
});
