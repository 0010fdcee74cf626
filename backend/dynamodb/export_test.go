package dynamodb

// ItemSize exposes itemSize to the external tests.
var ItemSize = itemSize

// SizeMargin exposes sizeMargin to the external tests.
const SizeMargin = sizeMargin
