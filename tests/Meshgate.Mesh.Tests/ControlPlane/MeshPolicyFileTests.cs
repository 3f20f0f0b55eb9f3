using Meshgate.Mesh.ControlPlane;

namespace Meshgate.Mesh.Tests.ControlPlane;

public sealed class MeshPolicyFileTests
{
    [Fact]
    public void A_full_policies_file_becomes_typed_policies()
    {
        var result = MeshPolicyFile.Parse("""
            services:
              users:
                timeout: 500ms
              orders:
                timeout: 2s
                retries: 2
                split: { v1: 90, v2: 10 }
                allow:
                  - from: frontend
                    methods: [GET, POST]
                    pathPrefix: /orders
                  - from: billing
            """);
        Assert.Empty(result.Errors);
        var policies = result.Policies!;
        Assert.Equal(["orders", "users"], policies.Services.Select(s => s.Service));
        var orders = policies.Services[0];
        Assert.Equal((2000L, 2), (orders.TimeoutMs, orders.RetryAttempts));
        Assert.Equal(["v1:90", "v2:10"], orders.Split.Select(w => $"{w.Version}:{w.Weight}"));
        Assert.Equal(("frontend", "orders", "/orders"), (orders.Allow[0].CallerService, orders.Allow[0].CalleeService, orders.Allow[0].PathPrefix));
        Assert.Equal(["GET", "POST"], orders.Allow[0].Methods);
        Assert.Equal("billing", orders.Allow[1].CallerService);
        Assert.Empty(orders.Allow[1].Methods);
        Assert.Equal(500, policies.Services[1].TimeoutMs);
    }

    [Fact]
    public void An_empty_file_is_no_policies()
    {
        var result = MeshPolicyFile.Parse("");
        Assert.Empty(result.Errors);
        Assert.Empty(result.Policies!.Services);
    }

    [Theory]
    [InlineData("services:\n  orders:\n    timeout: 2\n", "expected a positive duration with a unit (250ms, 2s, 1m), got '2'", "services.orders.timeout", 3)]
    [InlineData("services:\n  orders:\n    retries: many\n", "expected a whole number of retries from 0 to 10, got 'many'", "services.orders.retries", 3)]
    [InlineData("services:\n  orders:\n    retries: 11\n", "expected a whole number of retries from 0 to 10, got '11'", "services.orders.retries", 3)]
    [InlineData("services:\n  orders:\n    split: { v1: -1 }\n", "expected a weight that is a whole number >= 0, got '-1'", "services.orders.split.v1", 3)]
    [InlineData("services:\n  orders:\n    split: { v1: 0, v2: 0 }\n", "the weights add up to 0: no version would get traffic", "services.orders.split", 3)]
    [InlineData("services:\n  orders:\n    allow:\n      - methods: [GET]\n", "'from' (the calling service) is required", "services.orders.allow[0].from", 4)]
    [InlineData("services:\n  orders:\n    allow:\n      - from: a\n        methods: [get]\n", "expected an HTTP method in capitals (GET, POST), got 'get'", "services.orders.allow[0].methods", 5)]
    [InlineData("services:\n  orders:\n    allow:\n      - from: a\n        pathPrefix: orders\n", "expected a path starting with '/', got 'orders'", "services.orders.allow[0].pathPrefix", 5)]
    [InlineData("services:\n  orders:\n    allow: frontend\n", "expected a list of rules, e.g. - from: frontend", "services.orders.allow", 3)]
    [InlineData("services:\n  orders:\n    timout: 2s\n", "unknown key 'timout' (expected timeout, retries, split, allow)", "services.orders.timout", 3)]
    [InlineData("service:\n  orders: {}\n", "unknown key 'service' (expected 'services')", "service", 1)]
    [InlineData("services:\n  orders: [1]\n", "expected a mapping with timeout, retries, split, allow", "services.orders", 2)]
    public void A_bad_policies_file_reports_message_path_and_line(string yaml, string message, string path, int line)
    {
        var result = MeshPolicyFile.Parse(yaml);
        Assert.Null(result.Policies);
        var error = Assert.Single(result.Errors);
        Assert.Equal((message, path, line), (error.Message, error.Path, error.Line));
    }

    [Fact]
    public void Malformed_yaml_is_an_error_with_its_line()
    {
        var result = MeshPolicyFile.Parse("services:\n  orders:\n    timeout: [2s\n");
        Assert.Null(result.Policies);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("not valid YAML", error.Message);
        Assert.True(error.Line >= 3, error.ToString());
    }

    [Fact]
    public void A_missing_file_says_it_cannot_be_read()
    {
        var result = MeshPolicyFile.Load("/nonexistent/policies.yaml");
        Assert.Contains("cannot read the policies file", Assert.Single(result.Errors).Message);
    }
}
