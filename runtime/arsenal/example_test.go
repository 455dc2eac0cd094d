package arsenal_test

import (
	"fmt"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// An operation's parameters are checked from its description alone, the
// same way for a program's operations as for the built-in ones: defaults
// filled in, and a wrong value an error that names the parameter.
func ExampleValidate() {
	spec := arsenal.OpSpec{
		Name:    "ledger_balance",
		Summary: "an account's balance",
		Params: []arsenal.ParamSpec{
			{Name: "account", Type: "string", Required: true, Doc: "the account"},
			{Name: "currency", Type: "string", Default: "EUR", Allowed: []string{"EUR", "USD"}, Doc: "the currency"},
			{Name: "timeout", Type: "duration", Default: "2s", Min: "1ms", Max: "1m", Doc: "how long to wait"},
		},
	}
	args, err := arsenal.Validate(spec, map[string]any{"account": "a"})
	fmt.Println(args.String("account"), args.String("currency"), args.Duration("timeout"), err)
	_, err = arsenal.Validate(spec, map[string]any{"account": "a", "currency": "GBP"})
	fmt.Println(err)
	_, err = arsenal.Validate(spec, map[string]any{"acount": "a"})
	fmt.Println(err)
	// Output:
	// a EUR 2s <nil>
	// validation_error: currency: must be one of "EUR", "USD", got "GBP"
	// validation_error: acount: unknown parameter of ledger_balance (it takes account, currency, timeout)
}

// CheckSpec catches a mistaken description when the program registers it
// (node.Registry.AddOp calls it), not when a scenario first calls it.
func ExampleCheckSpec() {
	err := arsenal.CheckSpec(arsenal.OpSpec{
		Name:    "ledger_balance",
		Summary: "an account's balance",
		Params:  []arsenal.ParamSpec{{Name: "limit", Type: "int", Default: 0, Min: 1, Max: 100}},
	})
	fmt.Println(err)
	// Output:
	// operation ledger_balance: the default of limit is invalid: validation_error: limit: must be an integer from 1 to 100, got 0
}
