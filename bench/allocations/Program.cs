using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// usage: allocations CAPTURE.nettrace REQUESTS [STACKS [DEPTH]]
// The runtime reports an allocation tick about every 100 KB, naming the type allocated and its stack;
// each tick stands for the bytes since the last, so sums per type and per stack divided by the requests
// served during the capture estimate bytes per request. Estimates: types under ~20 B/request are noise.
// Objects: a tick samples an object with a chance in proportion to its size, so each tick's bytes divided by
// the size of the object it names estimates how many objects those bytes were (summed, an unbiased count).
if (args.Length < 2 || !double.TryParse(args[1], out var requests) || requests <= 0)
{
    Console.Error.WriteLine("usage: allocations CAPTURE.nettrace REQUESTS [STACKS [DEPTH]]");
    return 2;
}
var stacksShown = args.Length > 2 ? int.Parse(args[2]) : 15;
var depth = args.Length > 3 ? int.Parse(args[3]) : 8;
using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(args[0]));
var byType = new Dictionary<string, double>();
var byStack = new Dictionary<string, double>();
var objectsByType = new Dictionary<string, double>();
double total = 0, objects = 0;
foreach (var e in log.Events)
{
    if (e is not GCAllocationTickTraceData tick) continue;
    var bytes = tick.AllocationAmount64;
    total += bytes;
    byType[tick.TypeName] = byType.GetValueOrDefault(tick.TypeName) + bytes;
    if (tick.ObjectSize > 0)
    {
        var count = (double)bytes / tick.ObjectSize;
        objects += count;
        objectsByType[tick.TypeName] = objectsByType.GetValueOrDefault(tick.TypeName) + count;
    }
    var frames = new List<string>();
    for (var frame = e.CallStack(); frame is not null && frames.Count < depth; frame = frame.Caller)
    {
        var name = frame.CodeAddress.FullMethodName;
        if (!string.IsNullOrEmpty(name)) frames.Add(name.Length > 110 ? name[..110] : name);
    }
    var key = tick.TypeName + "\n        " + string.Join("\n        ", frames);
    byStack[key] = byStack.GetValueOrDefault(key) + bytes;
}
Console.WriteLine($"{total / requests:F0} B allocated per request (estimate from allocation ticks)");
Console.WriteLine($"{objects / requests:F1} objects allocated per request (estimate)\n");
Console.WriteLine("B/request  objects/request  type");
foreach (var (type, bytes) in byType.OrderByDescending(p => p.Value).Take(60))
{
    Console.WriteLine($"{bytes / requests,9:F0}  {objectsByType.GetValueOrDefault(type) / requests,15:F2}  {type}");
}
if (stacksShown > 0)
{
    Console.WriteLine("\nB/request  type and where (innermost frame first)");
    foreach (var (stack, bytes) in byStack.OrderByDescending(p => p.Value).Take(stacksShown)) Console.WriteLine($"{bytes / requests,9:F0}  {stack}");
}
return 0;
