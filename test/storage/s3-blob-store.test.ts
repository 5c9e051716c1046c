import { proxiedS3 } from './s3-fixture.ts';
import { runS3StoreSuite } from './s3-store-suite.ts';

runS3StoreSuite('S3BlobStore', proxiedS3());
