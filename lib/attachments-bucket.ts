import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  ATTACHMENTS_CORS,
  ATTACHMENTS_ROOT,
  UNCONFIRMED_UPLOAD_DAYS,
  UPLOADS_ROOT,
} from '../shared/attachments';
import { acknowledgeRule } from './nag';

export interface AttachmentsBucketProps {
  /**
   * Origins whose pages may POST uploads and GET attachments with presigned requests (CORS).
   * @default ['*'] (a presigned URL is the credential, so the origin adds no protection)
   */
  readonly allowedOrigins?: string[];
  /**
   * Days after which a confirmed attachment is deleted; undefined keeps attachments as long as their
   * messages (deleting a message deletes its object). Unconfirmed uploads go after a day regardless.
   * @default undefined
   */
  readonly expirationDays?: number;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket of message attachments: private (every public access blocked), encrypted at rest with
 * S3-managed keys, TLS only, with CORS for the browsers' presigned POSTs and GETs. Uploads land under
 * `uploads/<conversationId>/` and are deleted after a day unless confirmUpload checked them and copied
 * them under `conversations/<conversationId>/`, the only objects a message may name.
 */
export class AttachmentsBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: AttachmentsBucketProps = {}) {
    super(scope, id);
    if (
      props.expirationDays !== undefined &&
      !(Number.isInteger(props.expirationDays) && props.expirationDays > 0)
    ) {
      throw new Error(
        `attachments.expirationDays must be a whole number of days above 0; got ${props.expirationDays}`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      removalPolicy,
      autoDeleteObjects: false,
      cors: [
        {
          allowedMethods: ATTACHMENTS_CORS.allowedMethods.map((method) => HttpMethods[method]),
          allowedOrigins: props.allowedOrigins ?? ['*'],
          allowedHeaders: [...ATTACHMENTS_CORS.allowedHeaders],
          exposedHeaders: [...ATTACHMENTS_CORS.exposedHeaders],
          maxAge: ATTACHMENTS_CORS.maxAgeSeconds,
        },
      ],
      lifecycleRules: [
        {
          // Uploads nobody confirmed (abandoned, or refused and not deleted): no message names them.
          id: 'ExpireUnconfirmedUploads',
          prefix: UPLOADS_ROOT,
          expiration: Duration.days(UNCONFIRMED_UPLOAD_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          prefix: ATTACHMENTS_ROOT,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          ...(props.expirationDays === undefined ? {} : { expiration: Duration.days(props.expirationDays) }),
        },
      ],
    });
    acknowledgeRule(
      this.bucket,
      'AwsSolutions-S1',
      'Every object is reached only through a URL the attachments function signs after a membership check, ' +
        'and the API access log records each uploadUrl, confirmUpload and downloadUrl request with its user (principalId), ' +
        'connection and time (not the object key); server access logs would need a second bucket of their own.',
    );
  }
}
