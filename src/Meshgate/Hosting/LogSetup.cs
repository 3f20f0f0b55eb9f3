using Meshgate.Configuration.Model;
using Microsoft.Extensions.Logging.Console;

namespace Meshgate.Hosting;

/// <summary>
/// One line per event, JSON by default, at the level the config sets. The level can change on
/// reload, so the filter reads a switch instead of a fixed minimum.
/// </summary>
public sealed class LogSetup
{
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public volatile LogLevel Level = LogLevel.Information;

    public void Apply(ILoggingBuilder logging, LogFormat format)
    {
        logging.ClearProviders();
        if (format == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }
        logging.SetMinimumLevel(LogLevel.Trace);
        logging.AddFilter(Allows);
    }

    /// <summary>
    /// ASP.NET Core and YARP log every request at Information; at the default level that would be a
    /// line per request on the hot path, so their chatter starts at Warning unless debug is asked for.
    /// </summary>
    private bool Allows(string? category, LogLevel level)
    {
        var minimum = Level;
        // ASP.NET Core starts an Activity and pushes a log scope for every request whenever this category
        // is enabled at any level (~1.3 KB and an AsyncLocal write per request, seen in an allocation
        // profile), only to log "request starting/finished" at Information. Below debug it says nothing
        // we want, so it is off; tracing, when configured, starts spans from its own source, for sampled requests only
        // (a test checks that ASP.NET Core makes no Activity with tracing on).
        if (minimum > LogLevel.Debug && category == HostingDiagnosticsCategory) return false;
        if (minimum > LogLevel.Debug && category is not null
            && (category.StartsWith("Microsoft.", StringComparison.Ordinal) || category.StartsWith("Yarp.", StringComparison.Ordinal))
            && category != "Microsoft.Hosting.Lifetime")
        {
            minimum = minimum < LogLevel.Warning ? LogLevel.Warning : minimum;
        }
        return level >= minimum;
    }
}
