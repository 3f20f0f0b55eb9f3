using System.Globalization;
using Meshgate.Common;
using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level tracing section.</summary>
internal static class TracingValidator
{
    public static void Validate(TracingDefinition? tracing, ValidationContext context)
    {
        if (tracing is null) return;
        // Written so that NaN fails too.
        if (!(tracing.Sampling >= 0 && tracing.Sampling <= 1))
        {
            context.Error("tracing.sampling", $"must be between 0 and 1 (the fraction of new traces to record; 0.01 records one in a hundred), found {tracing.Sampling.ToString(CultureInfo.InvariantCulture)}");
        }
        if (tracing.Endpoint is { } endpoint && !IsEndpoint(endpoint))
        {
            context.Error("tracing.endpoint", $"'{endpoint}' is not an http:// or https:// URL, e.g. http://otel-collector:4317");
        }
        if (string.IsNullOrWhiteSpace(tracing.ServiceName))
        {
            context.Error("tracing.serviceName", $"must not be empty; leave it out for '{TracingDefinition.DefaultServiceName}'");
        }
        if (tracing.ResponseHeader is { } header && !HttpSyntax.IsToken(header))
        {
            context.Error("tracing.responseHeader", $"'{header}' is not a valid header name, e.g. x-trace-id");
        }
        foreach (var (name, value) in tracing.Headers ?? [])
        {
            if (!HttpSyntax.IsToken(name))
            {
                context.Error($"tracing.headers.{name}", $"'{name}' is not a valid header name");
            }
            // The value may be a secret: the message never repeats it.
            else if (value is null || value.Any(c => c is '\r' or '\n' or '\0'))
            {
                context.Error($"tracing.headers.{name}", "the value must be one line of text");
            }
            // OpenTelemetry's exporter takes its headers as one "name=value,name=value" string.
            else if (value.Contains(','))
            {
                context.Error($"tracing.headers.{name}", "the value must not contain a comma (the OTLP exporter takes headers as a comma-separated list)");
            }
        }
    }

    private static bool IsEndpoint(string endpoint) =>
        Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && uri.Host.Length > 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0;
}
