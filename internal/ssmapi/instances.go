package ssmapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

var (
	// instanceFilterKeys is the model's InstanceInformationFilterKey enum (the legacy filter list).
	instanceFilterKeys = []string{"InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds",
		"IamRole", "ResourceType", "AssociationStatus"}
	// instanceStringFilterKeys are the keys the documentation lists for Filters, besides tag-key and
	// tag:<key>. The model types the key as a free string, so SSM checks it itself (InvalidFilterKey).
	instanceStringFilterKeys = []string{"ActivationIds", "AgentVersion", "AssociationStatus", "IamRole",
		"InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "SourceIds", "SourceTypes"}
	// instanceFilterValues are the enumerable filter keys and the values the model allows for them.
	instanceFilterValues = map[string][]string{
		"PingStatus":    {"Online", "ConnectionLost", "Inactive"},
		"PlatformTypes": {"Windows", "Linux", "MacOS"},
		"ResourceType":  {"ManagedInstance", "EC2Instance"},
	}
)

type instanceInformationFilterRequest struct {
	Key      *string  `json:"key"`
	ValueSet []string `json:"valueSet"`
}

type instanceInformationStringFilterRequest struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

type describeInstanceInformationRequest struct {
	InstanceInformationFilterList []instanceInformationFilterRequest       `json:"InstanceInformationFilterList"`
	Filters                       []instanceInformationStringFilterRequest `json:"Filters"`
	MaxResults                    *int                                     `json:"MaxResults"`
	NextToken                     *string                                  `json:"NextToken"`
}

func (r *describeInstanceInformationRequest) validate() error {
	var v violations
	for i, f := range r.InstanceInformationFilterList {
		path := fmt.Sprintf("instanceInformationFilterList.%d.member", i+1)
		v.required(path+".key", f.Key != nil)
		v.enum(path+".key", f.Key, instanceFilterKeys)
		v.required(path+".valueSet", f.ValueSet != nil)
		v.strList(path+".valueSet", f.ValueSet, 1, 100, memberPattern(1, -1, nil))
	}
	for i, f := range r.Filters {
		path := fmt.Sprintf("filters.%d.member", i+1)
		v.required(path+".key", f.Key != nil)
		v.str(path+".key", f.Key, 1, -1, nil)
		v.required(path+".values", f.Values != nil)
		v.strList(path+".values", f.Values, 1, 100, memberPattern(1, -1, nil))
	}
	v.intRange("maxResults", r.MaxResults, 5, 50)
	if err := v.err(); err != nil {
		return err
	}
	if len(r.InstanceInformationFilterList) > 0 && len(r.Filters) > 0 {
		return validationError("InstanceInformationFilterList and Filters cannot be used together; use Filters")
	}
	tags, others := 0, 0
	for _, f := range r.merged() {
		switch {
		case f.Key == "tag-key" || strings.HasPrefix(f.Key, "tag:") && len(f.Key) > len("tag:"):
			tags++
			continue
		case slices.Contains(instanceStringFilterKeys, f.Key):
			others++
		default:
			return runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "the filter key %s is not valid", f.Key)
		}
		if allowed, ok := instanceFilterValues[f.Key]; ok {
			for _, val := range f.Values {
				if !slices.Contains(allowed, val) {
					return runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceInformationFilterValue",
						"%s is not a valid value for the filter %s; valid values: %s", val, f.Key, strings.Join(allowed, ", "))
				}
			}
		}
		if f.Key == "InstanceIds" {
			for _, val := range f.Values {
				if !patInstanceID.re.MatchString(val) {
					return runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceInformationFilterValue",
						"%s is not a valid instance id", val)
				}
			}
		}
	}
	if tags > 0 && others > 0 {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "tag filters cannot be combined with other filter types")
	}
	return nil
}

// merged returns the legacy and the current filter lists as one list; validate ensures at most one of
// them is used.
func (r *describeInstanceInformationRequest) merged() []service.InstanceFilter {
	var out []service.InstanceFilter
	for _, f := range r.InstanceInformationFilterList {
		out = append(out, service.InstanceFilter{Key: deref(f.Key), Values: f.ValueSet})
	}
	for _, f := range r.Filters {
		out = append(out, service.InstanceFilter{Key: deref(f.Key), Values: f.Values})
	}
	return out
}

func describeInstanceInformation(ctx context.Context, b Backend, r *describeInstanceInformationRequest) (any, error) {
	out, err := b.DescribeInstanceInformation(ctx, service.DescribeInstanceInformationInput{
		Filters:    r.merged(),
		MaxResults: derefInt(r.MaxResults),
		NextToken:  deref(r.NextToken),
	})
	if err != nil {
		return nil, err
	}
	list := make([]instanceInformationJSON, 0, len(out.Instances))
	for _, i := range out.Instances {
		list = append(list, toInstanceInformation(i))
	}
	return struct {
		InstanceInformationList []instanceInformationJSON `json:"InstanceInformationList"`
		NextToken               string                    `json:"NextToken,omitempty"`
	}{list, out.NextToken}, nil
}
