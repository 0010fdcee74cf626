// Package dynamodb is a cloudchain.Backend that keeps secrets in an Amazon
// DynamoDB table, or in any server that speaks DynamoDB's API (dynalite in
// the tests, for example).
//
// # Table layout
//
// The table has the key schema of the original Python cloudchain: Service
// (HASH, string) and Username (RANGE, string), so an existing safedb table
// works unchanged. CreateTable creates one. Each (service, user) is one item
// with these attributes:
//
//   - Ver (number): the current version. Every write is conditional on it.
//   - Rec (binary): the current record, as cloudchain.Record.MarshalBinary
//     encodes it.
//   - Hist (list of binary): earlier records, newest first. It is absent when
//     there is no history.
//   - Secret (string): base64 of a KMS ciphertext blob, exactly as the Python
//     client wrote and reads it. It is written only when the current record
//     is in the legacy format (an explicit opt-in of the Store), so that
//     fleets still running the Python client can read what cchain writes.
//
// # Backwards compatibility
//
// An item with only Secret, as the Python client writes it, loads as an item
// with one record: format legacy, version 1, the constant encryption context
// {"string": "string"}, the decoded blob as its ciphertext, no key id and no
// creation time. Its next Save upgrades it in place, keeping the legacy record
// as history.
//
// # Conditional writes
//
// Save and Remove are one conditional PutItem or DeleteItem each:
//
//   - with no previous item: attribute_not_exists(Service);
//   - with a previous item loaded from a Python-written item (one legacy
//     record of version 1): attribute_not_exists(Ver) AND Secret = the
//     Secret that was read, so that an overwrite by the Python client in
//     between is detected and not lost (or the condition below, for a
//     legacy record that cchain itself wrote);
//   - otherwise: Ver = the version that was read AND Rec = the current
//     record that was read (binary equality), so that a purge and a re-put
//     of the same version number in between is a conflict too. Load refuses
//     (ErrMalformed) a Rec that is not in MarshalBinary's canonical
//     encoding, so the record that Load returned re-encodes to exactly the
//     stored bytes.
//
// A failed condition is reported as an error wrapping
// cloudchain.ErrVersionConflict, a *cloudchain.VersionConflictError when the
// server returns the item it found.
//
// # Size limit
//
// DynamoDB refuses items larger than 400 KB, counting attribute names and
// values. Save computes the item's size the way DynamoDB does, and drops the
// oldest history records until it fits with a margin to spare, and reports
// how many it dropped; it never modifies next. If the current record alone does not fit, Save returns an
// error wrapping cloudchain.ErrTooLarge and writes nothing.
//
// # Errors
//
// SDK errors are translated where they cross into cloudchain: a missing table
// wraps cloudchain.ErrNotSetUp, AccessDeniedException wraps
// cloudchain.ErrAccessDenied, throttling that outlasted the SDK's retries
// wraps cloudchain.ErrThrottled, and an item that cannot be decoded wraps
// cloudchain.ErrMalformed. Any other error is wrapped with the operation and
// the table; none becomes cloudchain.ErrNotFound.
//
// # Request budget
//
// Load is one GetItem (strongly consistent), LoadBatch one BatchGetItem
// (strongly consistent, per 100 users, plus retries of unprocessed keys),
// Save one PutItem, Remove one DeleteItem, Items one Query per page and
// Services one Scan per page.
package dynamodb

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
)

// Attribute names. Service, Username and Secret are the Python client's.
const (
	attrService = "Service"
	attrUser    = "Username"
	attrSecret  = "Secret"
	attrVer     = "Ver"
	attrRec     = "Rec"
	attrHist    = "Hist"
)

// MaxItemSize is DynamoDB's limit on the size of one item: 400 KB.
const MaxItemSize = 400 * 1024

// sizeMargin is kept free below MaxItemSize, so that a small difference
// between our size computation and the server's never fails a write.
const sizeMargin = 1024

// API is the part of the DynamoDB SDK client that Backend uses.
// *dynamodb.Client implements it.
type API interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, optFns ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *ddb.BatchGetItemInput, optFns ...func(*ddb.Options)) (*ddb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, optFns ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *ddb.DeleteItemInput, optFns ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, optFns ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	Scan(ctx context.Context, in *ddb.ScanInput, optFns ...func(*ddb.Options)) (*ddb.ScanOutput, error)
}

// Backend stores cloudchain items in one DynamoDB table. It is safe for
// concurrent use.
type Backend struct {
	client   API
	table    string
	region   string
	pageSize int32
	maxSize  int
	// batchBackoff is the first wait before asking again for unprocessed
	// keys; it doubles up to a second.
	batchBackoff time.Duration
}

var _ cloudchain.Backend = (*Backend)(nil)

// Option configures a Backend.
type Option func(*Backend)

// WithRegion names the table's region in error messages. By default it is
// taken from the client's options when the client is a *dynamodb.Client.
func WithRegion(region string) Option { return func(b *Backend) { b.region = region } }

// WithPageSize sets the Limit of each Query and Scan page (default: none, so
// the server's 1 MB pages). Tests use it to exercise pagination cheaply.
func WithPageSize(n int32) Option {
	return func(b *Backend) {
		if n > 0 {
			b.pageSize = n
		}
	}
}

// WithMaxItemSize lowers the item size limit below MaxItemSize, for servers
// configured with a smaller limit. Larger values are ignored.
func WithMaxItemSize(n int) Option {
	return func(b *Backend) {
		if n > 0 && n <= MaxItemSize {
			b.maxSize = n
		}
	}
}

// New returns a Backend over the table named table.
func New(client API, table string, opts ...Option) *Backend {
	b := &Backend{client: client, table: table, region: regionOf(client), maxSize: MaxItemSize, batchBackoff: 20 * time.Millisecond}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Table returns the name of the backend's table.
func (b *Backend) Table() string { return b.table }

// regionOf returns the region of a *dynamodb.Client, or "".
func regionOf(client any) string {
	if c, ok := client.(interface{ Options() ddb.Options }); ok {
		return c.Options().Region
	}
	return ""
}

func keyOf(service, user string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrService: &types.AttributeValueMemberS{Value: service},
		attrUser:    &types.AttributeValueMemberS{Value: user},
	}
}

// Load returns the item for (service, user) with one strongly consistent
// GetItem, or an error wrapping cloudchain.ErrNotFound.
func (b *Backend) Load(ctx context.Context, service, user string) (*cloudchain.Item, error) {
	out, err := b.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(b.table),
		Key:            keyOf(service, user),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, b.translate("GetItem", err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("%s/%s: %w", service, user, cloudchain.ErrNotFound)
	}
	return decodeItem(service, user, out.Item, true)
}

// Save replaces prev with next in one conditional PutItem. See the package
// documentation for the conditions and the size limit.
func (b *Backend) Save(ctx context.Context, prev, next *cloudchain.Item) (dropped int, err error) {
	if next == nil || len(next.Records) == 0 || next.Records[0] == nil {
		return 0, errors.New("dynamodb backend: Save needs an item with at least one record")
	}
	av, kept, err := b.encodeItem(next)
	if err != nil {
		return 0, err
	}
	err = b.conditional(ctx, prev, func(cond condition) error {
		_, err := b.client.PutItem(ctx, &ddb.PutItemInput{
			TableName:                           aws.String(b.table),
			Item:                                av,
			ConditionExpression:                 aws.String(cond.expr),
			ExpressionAttributeNames:            cond.names,
			ExpressionAttributeValues:           cond.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if err != nil {
		return 0, b.writeError("PutItem", next.Service, next.User, prev, err)
	}
	return len(next.Records) - kept, nil
}

// Remove deletes prev and its whole history with one conditional DeleteItem.
func (b *Backend) Remove(ctx context.Context, prev *cloudchain.Item) error {
	if prev == nil || len(prev.Records) == 0 {
		return errors.New("dynamodb backend: Remove needs an item loaded with Load")
	}
	err := b.conditional(ctx, prev, func(cond condition) error {
		_, err := b.client.DeleteItem(ctx, &ddb.DeleteItemInput{
			TableName:                           aws.String(b.table),
			Key:                                 keyOf(prev.Service, prev.User),
			ConditionExpression:                 aws.String(cond.expr),
			ExpressionAttributeNames:            cond.names,
			ExpressionAttributeValues:           cond.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if err != nil {
		return b.writeError("DeleteItem", prev.Service, prev.User, prev, err)
	}
	return nil
}

// Services scans the table for the Service attribute only, and calls fn once
// for each distinct service in ascending byte order.
func (b *Backend) Services(ctx context.Context, fn func(service string) error) error {
	seen := map[string]struct{}{}
	// A service that holds nothing but its key ring (its secrets were
	// purged) is not listed, so the user name is projected too.
	in := &ddb.ScanInput{
		TableName:                aws.String(b.table),
		ProjectionExpression:     aws.String("#s, #u"),
		ExpressionAttributeNames: map[string]string{"#s": attrService, "#u": attrUser},
		ConsistentRead:           aws.Bool(true),
	}
	if b.pageSize > 0 {
		in.Limit = aws.Int32(b.pageSize)
	}
	for {
		out, err := b.client.Scan(ctx, in)
		if err != nil {
			return b.translate("Scan", err)
		}
		for _, it := range out.Items {
			s, ok := it[attrService].(*types.AttributeValueMemberS)
			if u, isS := it[attrUser].(*types.AttributeValueMemberS); ok && !(isS && cloudchain.IsReservedUser(u.Value)) {
				seen[s.Value] = struct{}{}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	services := make([]string, 0, len(seen))
	for s := range seen {
		services = append(services, s)
	}
	slices.Sort(services)
	for _, s := range services {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// Items queries the service's partition page by page and calls fn for each
// item in ascending byte order of user. Without history, Hist is not fetched
// and each item carries only its current record.
func (b *Backend) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	in := &ddb.QueryInput{
		TableName:                 aws.String(b.table),
		KeyConditionExpression:    aws.String("#s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": attrService},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: service}},
		ConsistentRead:            aws.Bool(true),
	}
	if !history {
		in.ProjectionExpression = aws.String("#s, #u, #v, #r, #sec")
		in.ExpressionAttributeNames["#u"] = attrUser
		in.ExpressionAttributeNames["#v"] = attrVer
		in.ExpressionAttributeNames["#r"] = attrRec
		in.ExpressionAttributeNames["#sec"] = attrSecret
	}
	if b.pageSize > 0 {
		in.Limit = aws.Int32(b.pageSize)
	}
	for {
		out, err := b.client.Query(ctx, in)
		if err != nil {
			return b.translate("Query", err)
		}
		for _, av := range out.Items {
			user, ok := av[attrUser].(*types.AttributeValueMemberS)
			if !ok {
				return fmt.Errorf("%w: an item of service %s in table %s has no string Username", cloudchain.ErrMalformed, service, b.table)
			}
			it, err := decodeItem(service, user.Value, av, history)
			if errors.Is(err, cloudchain.ErrMalformed) {
				it, err = &cloudchain.Item{Service: service, User: user.Value, Malformed: err}, nil
			}
			if err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// condition is a condition expression with its names and values.
type condition struct {
	expr   string
	names  map[string]string
	values map[string]types.AttributeValue
}

// conditionFor returns the condition under which the stored item is still
// prev: its version and its current record, byte for byte, are the ones that
// were read. The version alone is not enough: a purge and a re-put in between
// make a new item with the same version number.
func conditionFor(prev *cloudchain.Item) (condition, error) {
	if prev == nil || len(prev.Records) == 0 {
		return condition{
			expr:  "attribute_not_exists(#s)",
			names: map[string]string{"#s": attrService},
		}, nil
	}
	rec, err := prev.Records[0].MarshalBinary()
	if err != nil {
		return condition{}, fmt.Errorf("encoding the current record of %s/%s: %w", prev.Service, prev.User, err)
	}
	c := condition{
		expr:  "#v = :v AND #r = :rec",
		names: map[string]string{"#v": attrVer, "#r": attrRec},
		values: map[string]types.AttributeValue{
			":v":   numberOf(prev.Version()),
			":rec": &types.AttributeValueMemberB{Value: rec},
		},
	}
	if mayBePythonItem(prev) {
		// The item may have been written by the Python client, which has no
		// Ver: it is unchanged only if Secret is still what was read. The
		// Python client replaces whole items, so its overwrite changes Secret.
		c.expr = "(attribute_not_exists(#v) AND #sec = :sec) OR (#v = :v AND #r = :rec)"
		c.names["#sec"] = attrSecret
		c.values[":sec"] = &types.AttributeValueMemberS{Value: base64.StdEncoding.EncodeToString(prev.Records[0].Ciphertext)}
	}
	return c, nil
}

// conditional runs write under prev's condition. The condition compares a
// Python client's Secret with the canonical base64 of what was read, and
// decoding accepts surrounding whitespace and line breaks (as Python's
// base64.encodebytes writes): when the condition fails on such an item, it
// reads the Secret as stored and, if it is still what was read, runs write
// once more comparing with exactly that string.
func (b *Backend) conditional(ctx context.Context, prev *cloudchain.Item, write func(condition) error) error {
	cond, err := conditionFor(prev)
	if err != nil {
		return err
	}
	err = write(cond)
	var ccf *types.ConditionalCheckFailedException
	if err == nil || !errors.As(err, &ccf) || prev == nil || len(prev.Records) == 0 || !mayBePythonItem(prev) {
		return err
	}
	out, gerr := b.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:                aws.String(b.table),
		Key:                      keyOf(prev.Service, prev.User),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#sec, #v"),
		ExpressionAttributeNames: map[string]string{"#sec": attrSecret, "#v": attrVer},
	})
	if gerr != nil {
		return err
	}
	stored, ok := out.Item[attrSecret].(*types.AttributeValueMemberS)
	if _, hasVer := out.Item[attrVer]; hasVer || !ok || stored.Value == cond.values[":sec"].(*types.AttributeValueMemberS).Value {
		return err
	}
	if blob, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(stored.Value)); derr != nil || !bytes.Equal(blob, prev.Records[0].Ciphertext) {
		return err
	}
	cond.values[":sec"] = &types.AttributeValueMemberS{Value: stored.Value}
	return write(cond)
}

// mayBePythonItem says whether prev may have been loaded from an item that
// only the Python client wrote: one legacy record of version 1. The Item
// does not say where it came from, so a legacy record of version 1 written
// by cchain also qualifies; the condition then accepts either.
func mayBePythonItem(prev *cloudchain.Item) bool {
	cur := prev.Records[0]
	return len(prev.Records) == 1 && cur.Format == cloudchain.FormatLegacy && cur.Version == 1 &&
		!cur.Deleted && len(cur.Ciphertext) > 0
}

func numberOf(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// writeError translates the error of a conditional write.
func (b *Backend) writeError(op, service, user string, prev *cloudchain.Item, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return b.translate(op, err)
	}
	expected := prev.Version()
	if ccf.Item != nil {
		return &cloudchain.VersionConflictError{Service: service, User: user, Expected: expected, Current: storedVersion(ccf.Item)}
	}
	// No item came back: the server does not support
	// ReturnValuesOnConditionCheckFailure (dynalite), or the item is gone.
	if expected == 0 {
		return fmt.Errorf("%w on %s/%s: expected no secret, but it exists", cloudchain.ErrVersionConflict, service, user)
	}
	return fmt.Errorf("%w on %s/%s: it is no longer at version %d", cloudchain.ErrVersionConflict, service, user, expected)
}

// storedVersion returns the version of a raw item without decoding records.
func storedVersion(av map[string]types.AttributeValue) int64 {
	if n, ok := av[attrVer].(*types.AttributeValueMemberN); ok {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return v
		}
	}
	if _, ok := av[attrSecret]; ok {
		return 1
	}
	return 0
}
