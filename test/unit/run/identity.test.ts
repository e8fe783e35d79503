import { runIdOfExecution, scheduledRunId } from '../../../lambdas/core/run/identity';
import { checkIdSchema, checkIdTime } from '../../../lambdas/core/store';

const SCHEDULE = 'arn:aws:scheduler:eu-west-1:123456789012:schedule/preflight-environments/wave-1';

describe('scheduledRunId', () => {
  it('gives the same check id for the same invocation, timed at the moment the schedule was due', () => {
    // Arrange
    const invocation = { scheduleArn: SCHEDULE, scheduledTime: '2026-11-27T18:00:00Z' };

    // Act
    const first = scheduledRunId(invocation);
    const again = scheduledRunId({ ...invocation, scheduledTime: '2026-11-27T18:00:00.000Z' });

    // Assert
    expect(checkIdSchema.parse(first)).toBe(first);
    expect(again).toBe(first);
    expect(checkIdTime(first).toISOString()).toBe('2026-11-27T18:00:00.000Z');
  });

  it('gives another id for another time or another schedule', () => {
    // Arrange
    const base = { scheduleArn: SCHEDULE, scheduledTime: '2026-11-27T18:00:00Z' };

    // Act
    const ids = new Set([
      scheduledRunId(base),
      scheduledRunId({ ...base, scheduledTime: '2026-11-27T19:00:00Z' }),
      scheduledRunId({ ...base, scheduleArn: `${SCHEDULE}-2` }),
    ]);

    // Assert
    expect(ids.size).toBe(3);
  });

  it('refuses an invocation whose time was not filled in, naming the value', () => {
    // Act / Assert: the placeholder itself, as when a schedule's input reached the machine unreplaced
    expect(() =>
      scheduledRunId({ scheduleArn: SCHEDULE, scheduledTime: '<aws.scheduler.scheduled-time>' }),
    ).toThrow('"<aws.scheduler.scheduled-time>" is not an ISO 8601 date-time');
  });
});

describe('runIdOfExecution', () => {
  const checkId = '01JDZ3V8Q4W5X6Y7Z8A9B0C1D2';

  it('takes the input checkId first, then the schedule invocation, then an execution named after its run', () => {
    // Arrange
    const invocation = { scheduleArn: SCHEDULE, scheduledTime: '2026-11-27T18:00:00.000Z' };

    // Act / Assert
    expect(runIdOfExecution({ checkId, invocation }, 'other')).toBe(checkId);
    expect(runIdOfExecution({ invocation }, checkId)).toBe(scheduledRunId(invocation));
    expect(runIdOfExecution({}, checkId)).toBe(checkId);
    expect(runIdOfExecution({}, 'a-scheduler-generated-name')).toBeUndefined();
    expect(runIdOfExecution({})).toBeUndefined();
  });
});
