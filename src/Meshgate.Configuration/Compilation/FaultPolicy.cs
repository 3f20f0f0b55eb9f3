namespace Meshgate.Configuration.Compilation;

/// <summary>A route's compiled fault injection. Shares are parts per million (0..1,000,000).</summary>
/// <param name="AbortStatus">Status of an injected abort; null when the route injects no aborts.</param>
/// <param name="Delay">Length of an injected delay; null when the route injects no delays.</param>
/// <param name="Header">Only requests carrying this header are eligible; null: every request is.</param>
public sealed record FaultPolicy(string RouteId, int? AbortStatus, int AbortPartsPerMillion, TimeSpan? Delay, int DelayPartsPerMillion, string? Header);
