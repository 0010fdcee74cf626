// Package integration holds tests of the whole stack against real parts:
// the Store over the DynamoDB backend on dynalite, and the AWS KMS key
// provider through the real SDK client against the KMS wire-protocol test
// server. It has no non-test code.
package integration
