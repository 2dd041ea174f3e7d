/**
 * chart.js with only what the panel draws: line charts (areas included) on linear axes, the
 * tooltip, and the traffic markers. Loaded on demand, so pages without charts never fetch it.
 */
import { Chart, Filler, LinearScale, LineController, LineElement, PointElement, Tooltip } from "chart.js";
import { markerPlugin } from "./markers.ts";

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Tooltip, markerPlugin);

export { Chart };
