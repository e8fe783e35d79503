/**
 * The {@link EventSink} of the deployed service: EventBridge `PutEvents` on the service's bus, source
 * {@link EVENT_SOURCE}. A rule on the bus sends "Preflight Check State Changed" to the notification topic.
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type EventSink, type StateChangedDetail, type STATE_CHANGED } from '../core/run/steps';

/** Raised when EventBridge did not take an event (it reports that per entry, not as an exception). */
export class EventDeliveryError extends Error {
  override readonly name = 'EventDeliveryError';
}

export class EventBridgeSink implements EventSink {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async emit(detailType: typeof STATE_CHANGED, detail: StateChangedDetail): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: EVENT_SOURCE,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
            Resources: [],
          },
        ],
      }),
    );
    const failed = out.Entries?.find((e) => e.ErrorCode !== undefined);
    if ((out.FailedEntryCount ?? 0) > 0 || failed) {
      throw new EventDeliveryError(
        `EventBridge refused the event for flow ${detail.flowId} on bus ${this.eventBusName}: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim(),
      );
    }
  }
}
