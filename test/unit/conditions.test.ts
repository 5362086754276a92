import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { updateIf } from '../../shared/store/conditions';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const input = {
  TableName: 'table-t',
  Key: { id: 'a' },
  UpdateExpression: 'SET n = :n',
  ConditionExpression: 'attribute_exists(id)',
  ExpressionAttributeValues: { ':n': 1 },
  ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
};

beforeEach(() => {
  ddbMock.reset();
});

describe('updateIf', () => {
  it('sends the update as given and says it applied', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const outcome = await updateIf(ddb, input);

    // Assess
    expect(outcome).toEqual({ applied: true });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, input);
  });

  it('answers a failed condition with the item as it stood, unmarshalled', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: marshall({ id: 'a', n: 5 }),
      }),
    );

    // Act
    const outcome = await updateIf(ddb, input);

    // Assess
    expect(outcome).toEqual({ applied: false, item: { id: 'a', n: 5 } });
  });

  it('answers a failed condition on a missing item with no item', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    // Act
    const outcome = await updateIf(ddb, input);

    // Assess
    expect(outcome).toEqual({ applied: false, item: undefined });
  });

  it('throws any other failure', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(new Error('throttled'));

    // Act
    const attempt = updateIf(ddb, input);

    // Assess
    await expect(attempt).rejects.toThrow('throttled');
  });
});
