package dynamodb

import "time"

// ItemSize exposes itemSize to the external tests.
var ItemSize = itemSize

// SizeMargin exposes sizeMargin to the external tests.
const SizeMargin = sizeMargin

// WithBatchBackoff sets the first wait before unprocessed keys are asked for
// again, so that tests of the retry bound run fast.
func WithBatchBackoff(d time.Duration) Option { return func(b *Backend) { b.batchBackoff = d } }
