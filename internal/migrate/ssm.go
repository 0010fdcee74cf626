package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ParameterReader is the SSM operation the SSM reader uses.
type ParameterReader interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// SSMOptions say what to read from SSM Parameter Store.
type SSMOptions struct {
	// Path is the prefix to read, "/" for every hierarchical parameter.
	Path string
	// Service, when set, puts every parameter under it, with the name
	// below Path as the user. Otherwise the first level below Path is the
	// service and the rest the user: chamber's /SERVICE/KEY layout.
	Service string
}

// ReadSSM reads every parameter under o.Path, recursively, with decryption
// (String, SecureString and StringList, whose value is its comma-separated
// text), through every page of GetParametersByPath. The value is the
// parameter's text, byte for byte.
func ReadSSM(ctx context.Context, api ParameterReader, o SSMOptions) (*Result, error) {
	path := o.Path
	if !strings.HasPrefix(path, "/") {
		return nil, errors.New("the SSM path must start with /")
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	asked := "/"
	if path != "/" {
		asked = strings.TrimSuffix(path, "/")
	}
	in := &ssm.GetParametersByPathInput{Path: aws.String(asked), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)}
	var res Result
	p := ssm.NewGetParametersByPathPaginator(api, in, func(o *ssm.GetParametersByPathPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			res.Zero()
			return nil, fmt.Errorf("reading the SSM parameters under %s: %w", path, err)
		}
		for _, prm := range page.Parameters {
			name := aws.ToString(prm.Name)
			src := "ssm " + name
			rel, ok := strings.CutPrefix(name, path)
			if !ok {
				res.Failures = append(res.Failures, Failure{Source: src, Err: fmt.Errorf("%w: the name is not under %s", ErrName, path)})
				continue
			}
			var service, user string
			var err error
			if o.Service != "" {
				service, user, err = checked(o.Service, rel)
			} else {
				service, user, err = SplitAt("/")(rel)
				if err != nil {
					err = fmt.Errorf("%w: the name below %s is not SERVICE/KEY (give --service SERVICE to import it whole)", ErrName, path)
				}
			}
			if err != nil {
				res.Failures = append(res.Failures, Failure{Source: src, Err: err})
				continue
			}
			switch prm.Type {
			case ssmtypes.ParameterTypeString, ssmtypes.ParameterTypeSecureString, ssmtypes.ParameterTypeStringList:
			default:
				res.Failures = append(res.Failures, Failure{Source: src, Err: fmt.Errorf("unknown parameter type %q", printable(string(prm.Type)))})
				continue
			}
			res.Secrets = append(res.Secrets, Secret{Service: service, User: user, Value: []byte(aws.ToString(prm.Value)), Source: src})
		}
	}
	slices.SortStableFunc(res.Secrets, func(a, b Secret) int { return strings.Compare(a.Source, b.Source) })
	return &res, nil
}
