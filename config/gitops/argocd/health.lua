-- Argo CD health of every Portcullis kind (resource.customizations, see
-- docs/gitops.md). It reads what kstatus reads: a status the controller has
-- not caught up with is Progressing; Stalled=True (only a person can move
-- it) is Degraded; Ready=True is Healthy; anything else is Progressing.
local hs = { status = "Progressing", message = "Waiting for the Portcullis controller" }
if obj.status == nil or obj.status.observedGeneration == nil or obj.metadata.generation == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  return hs
end
local conditions = obj.status.conditions or {}
local ready = nil
for _, c in ipairs(conditions) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.reason .. ": " .. c.message
    return hs
  end
  if c.type == "Ready" then
    ready = c
  end
end
if ready ~= nil then
  hs.message = ready.reason .. ": " .. ready.message
  if ready.status == "True" then
    hs.status = "Healthy"
  end
end
return hs
