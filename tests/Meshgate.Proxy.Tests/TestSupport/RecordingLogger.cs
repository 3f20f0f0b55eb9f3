using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Keeps every formatted log line with its event id.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    public List<(int EventId, LogLevel Level, string Message)> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Add((eventId.Id, logLevel, formatter(state, exception)));
}
