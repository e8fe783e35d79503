import { printable, terminalSafe } from '../../lambdas/core/printable';
import { formatName } from '../../lambdas/core/identify';

// Issue 11 item 4: the one sanitizer of remote strings.
const HOSTILE = 'SSH-2.0-x\u001b[1A\u001b[2K pass\u009b2J\u0000\u001b]0;owned\u0007\u007f\r\nnext\u2028row';

describe('printable', () => {
  it('removes every C0 and C1 control character (U+009B included) and keeps the text on one line', () => {
    // Act
    const out = printable(HOSTILE);
    // Assert
    expect(out).toBe('SSH-2.0-x[1A[2K pass2J]0;owned  next row');
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('keeps tabs, LF and CRLF when asked (a multi-line CSV field), never a lone CR', () => {
    expect(printable('a\tb\r\nc\nd\re\u001b[2J', { keepLines: true })).toBe('a\tb\r\nc\nde[2J');
  });
});

describe('terminalSafe', () => {
  it("keeps the CLI's own colours, line breaks and progress erase, and nothing else", () => {
    // Arrange
    const own = '\u001b[1mbold\u001b[22m row\r\n\u001b[32mpass\u001b[39m\n\r\u001b[K';
    // Act / Assert
    expect(terminalSafe(own)).toBe(own);
    expect(terminalSafe(`${own}${HOSTILE}`)).toBe(`${own}SSH-2.0-x[1A[2K pass2J]0;owned\r\nnext\u2028row`);
  });
});

describe('remote strings as they are read', () => {
  it("strips control characters from a certificate's names", () => {
    expect(formatName({ CN: 'app01\u001b[2J\u009b1A', O: ['a\u0000', 'b\u0007'] })).toBe(
      'CN=app01[2J1A, O=a+b',
    );
  });
});
