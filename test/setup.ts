import { Testing } from 'cdktf';
// Types of the matchers Testing.setupJest() installs (toHaveResourceWithProperties, ...).
import type {} from 'cdktf/lib/testing/adapters/jest';

process.env.CHECKPOINT_DISABLE = '1';
Testing.setupJest();
