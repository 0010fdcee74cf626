package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cloudchain/cloudchain"
)

// SetupAPI is the part of the DynamoDB SDK client that CreateTable uses.
// *dynamodb.Client implements it.
type SetupAPI interface {
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, optFns ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, optFns ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	UpdateContinuousBackups(ctx context.Context, in *ddb.UpdateContinuousBackupsInput, optFns ...func(*ddb.Options)) (*ddb.UpdateContinuousBackupsOutput, error)
	UpdateTable(ctx context.Context, in *ddb.UpdateTableInput, optFns ...func(*ddb.Options)) (*ddb.UpdateTableOutput, error)
}

// ErrWrongSchema means a table exists under the requested name but its key
// schema is not cloudchain's. CreateTable never changes such a table.
var ErrWrongSchema = errors.New("table has the wrong key schema")

// PITR says what CreateTable did about point-in-time recovery.
type PITR int

const (
	// PITREnabled means point-in-time recovery is on.
	PITREnabled PITR = iota + 1
	// PITRUnsupported means the server does not support point-in-time
	// recovery (dynalite, for example). The table works without it.
	PITRUnsupported
	// PITRPending means the server was still preparing backups for a new
	// table; running setup again later enables it.
	PITRPending
)

func (p PITR) String() string {
	switch p {
	case PITREnabled:
		return "enabled"
	case PITRUnsupported:
		return "unsupported"
	case PITRPending:
		return "pending"
	default:
		return "unknown"
	}
}

// SetupResult reports what CreateTable did.
type SetupResult struct {
	Table string
	// Created is true if the table was created, false if it already existed
	// with the right key schema.
	Created bool
	// PITR is the state of point-in-time recovery.
	PITR PITR
	// Note explains a PITR other than PITREnabled, for the user; it is
	// empty otherwise.
	Note string
	// DeletionProtection is true when the table is protected against
	// DeleteTable; DeletionNote says why not when it is false.
	DeletionProtection bool
	DeletionNote       string
}

// tableWait bounds how long CreateTable waits for a new table to become
// active.
const tableWait = 5 * time.Minute

// CreateTable creates table with cloudchain's key schema (Service HASH,
// Username RANGE, both strings) and on-demand billing, waits until it is
// active, and enables point-in-time recovery where the server supports it.
//
// It is idempotent: a table that already exists with the right key schema
// is used as it is (and gets point-in-time recovery enabled). A table with
// another key schema is reported with an error wrapping ErrWrongSchema and
// is never changed. A server without point-in-time recovery is not an error:
// the result says so.
func CreateTable(ctx context.Context, client SetupAPI, table string) (*SetupResult, error) {
	res := &SetupResult{Table: table}
	desc, err := describe(ctx, client, table)
	if err != nil {
		return nil, err
	}
	if desc == nil {
		out, err := client.CreateTable(ctx, &ddb.CreateTableInput{
			TableName: aws.String(table),
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(attrService), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrUser), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrService), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrUser), KeyType: types.KeyTypeRange},
			},
			BillingMode:               types.BillingModePayPerRequest,
			DeletionProtectionEnabled: aws.Bool(true),
		})
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(err, &inUse):
			// Someone else created it in between: check it like any
			// existing table.
			if desc, err = describe(ctx, client, table); err != nil {
				return nil, err
			}
			if desc == nil {
				return nil, fmt.Errorf("creating table %q: it is in use but cannot be described", table)
			}
		case err != nil:
			return nil, fmt.Errorf("creating table: %w", translateError("CreateTable", table, regionOf(client), err))
		default:
			res.Created = true
			desc = out.TableDescription
		}
	}
	if desc != nil && !res.Created {
		if err := checkSchema(table, desc); err != nil {
			return nil, err
		}
	}
	if desc == nil || desc.TableStatus != types.TableStatusActive {
		w := ddb.NewTableExistsWaiter(client, func(o *ddb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
		})
		if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, tableWait); err != nil {
			return nil, fmt.Errorf("waiting for table %q to become active: %w", table, err)
		}
	}
	if err := enablePITR(ctx, client, table, res); err != nil {
		return nil, err
	}
	if err := protect(ctx, client, table, res); err != nil {
		return nil, err
	}
	return res, nil
}

// protect turns on deletion protection where the server supports it, so
// that a mistaken DeleteTable cannot destroy every secret at once.
func protect(ctx context.Context, client SetupAPI, table string, res *SetupResult) error {
	desc, err := describe(ctx, client, table)
	if err != nil {
		return err
	}
	if desc != nil && aws.ToBool(desc.DeletionProtectionEnabled) {
		res.DeletionProtection = true
		return nil
	}
	out, err := client.UpdateTable(ctx, &ddb.UpdateTableInput{TableName: aws.String(table), DeletionProtectionEnabled: aws.Bool(true)})
	var apiErr smithy.APIError
	switch {
	case err == nil && out.TableDescription != nil && aws.ToBool(out.TableDescription.DeletionProtectionEnabled):
		res.DeletionProtection = true
	case err == nil, errors.As(err, &apiErr) && (apiErr.ErrorCode() == "ValidationException" || apiErr.ErrorCode() == "UnknownOperationException"):
		res.DeletionNote = "deletion protection is not supported by this DynamoDB server"
	default:
		return fmt.Errorf("enabling deletion protection: %w", translateError("UpdateTable", table, regionOf(client), err))
	}
	return nil
}

// describe returns the table's description, or nil if it does not exist.
func describe(ctx context.Context, client SetupAPI, table string) (*types.TableDescription, error) {
	out, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing table: %w", translateError("DescribeTable", table, regionOf(client), err))
	}
	return out.Table, nil
}

// checkSchema accepts exactly cloudchain's key schema.
func checkSchema(table string, desc *types.TableDescription) error {
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range desc.AttributeDefinitions {
		attrTypes[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var have []string
	for _, k := range desc.KeySchema {
		name := aws.ToString(k.AttributeName)
		have = append(have, fmt.Sprintf("%s (%s, %s)", name, k.KeyType, attrTypes[name]))
	}
	want := []string{
		fmt.Sprintf("%s (%s, %s)", attrService, types.KeyTypeHash, types.ScalarAttributeTypeS),
		fmt.Sprintf("%s (%s, %s)", attrUser, types.KeyTypeRange, types.ScalarAttributeTypeS),
	}
	ok := len(have) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = have[i] == want[i]
	}
	// DynamoDB lists the HASH key first, but do not rely on it.
	if !ok && len(have) == 2 && have[0] == want[1] && have[1] == want[0] {
		ok = true
	}
	if !ok {
		return fmt.Errorf("%w: table %q has the key schema %s, but cloudchain needs %s; the table was not changed",
			ErrWrongSchema, table, strings.Join(have, ", "), strings.Join(want, ", "))
	}
	return nil
}

// pitrAttempts and pitrDelay bound the retries while AWS prepares backups of
// a new table (ContinuousBackupsUnavailableException).
const (
	pitrAttempts = 6
	pitrDelay    = 2 * time.Second
)

func enablePITR(ctx context.Context, client SetupAPI, table string, res *SetupResult) error {
	for attempt := 1; ; attempt++ {
		_, err := client.UpdateContinuousBackups(ctx, &ddb.UpdateContinuousBackupsInput{
			TableName: aws.String(table),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: aws.Bool(true),
			},
		})
		if err == nil {
			res.PITR = PITREnabled
			return nil
		}
		var unavailable *types.ContinuousBackupsUnavailableException
		if errors.As(err, &unavailable) {
			if attempt >= pitrAttempts {
				res.PITR = PITRPending
				res.Note = "point-in-time recovery could not be enabled yet because the table's backups are still being prepared; run `cchain setup` again in a few minutes"
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pitrDelay):
			}
			continue
		}
		if unsupported(err) {
			res.PITR = PITRUnsupported
			res.Note = "point-in-time recovery is not supported by this DynamoDB server; the table works without it"
			return nil
		}
		return fmt.Errorf("enabling point-in-time recovery: %w", translateError("UpdateContinuousBackups", table, regionOf(client), err))
	}
}

// unsupported says whether err means that the server does not implement the
// operation: dynalite answers UnknownOperationException.
func unsupported(err error) bool {
	if errors.Is(err, cloudchain.ErrUnsupported) {
		return true
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnknownOperationException", "UnsupportedOperationException", "UnsupportedOperation",
		"InvalidAction", "NotImplemented", "NotImplementedException":
		return true
	}
	return false
}
